//! Prefix caching across generation calls: the keys/values of finished sequences are kept, and a
//! later prompt that starts with one of them is prefilled only from where they differ.
//!
//! The closed loop's episodes are multi-turn: turn `k + 1` re-renders the whole conversation, so
//! its prompt starts with turn `k`'s prompt and (up to the template's re-rendering of the
//! assistant message) its completion, and episodes over one toolset share the system prompt and
//! the tools block. Without the cache every turn re-prefills the ~600-token conversation.
//!
//! Entries are whole sequences (prompt + fed completion tokens), matched by longest common token
//! prefix with the same adapter switch; least recently used entries are evicted beyond the byte
//! budget, and an entry that is a prefix of a newer one is dropped. The cached keys/values are
//! only valid for the weights they were computed with: the owner clears the cache whenever the
//! model changes (see `LocalBackend::model_mut`).

use crate::model::SeqKv;

/// Counters since the cache was created or cleared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixStats {
    /// Distinct prompts looked up.
    pub lookups: usize,
    /// Lookups that reused at least one cached slot.
    pub hits: usize,
    /// Prompt tokens of all lookups.
    pub prompt_tokens: usize,
    /// Of those, tokens whose keys/values came from the cache.
    pub reused_tokens: usize,
    /// Entries evicted for the byte budget.
    pub evictions: usize,
}

struct Entry {
    tokens: Vec<u32>,
    adapter: bool,
    kv: SeqKv,
    bytes: usize,
    last_used: u64,
}

/// Keys/values of earlier sequences, reusable by prompts that extend them.
pub struct PrefixCache {
    entries: Vec<Entry>,
    budget_bytes: usize,
    used_bytes: usize,
    clock: u64,
    stats: PrefixStats,
}

impl PrefixCache {
    /// A cache holding at most `budget_bytes` of keys/values (0 = disabled: nothing is stored).
    pub fn new(budget_bytes: usize) -> Self {
        PrefixCache {
            entries: Vec::new(),
            budget_bytes,
            used_bytes: 0,
            clock: 0,
            stats: PrefixStats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget_bytes > 0
    }

    /// Drops every entry and resets the counters (call whenever the model's weights change).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.used_bytes = 0;
        self.stats = PrefixStats::default();
    }

    pub fn stats(&self) -> PrefixStats {
        self.stats
    }

    /// Bytes of keys/values held.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached keys/values sharing the longest prefix with `prompt` (same adapter switch) and
    /// how many of its slots to reuse: at most `prompt.len() - 1`, so that the last prompt token
    /// is always fed and yields the next-token logits.
    pub fn lookup(&mut self, prompt: &[u32], adapter: bool) -> Option<(SeqKv, usize)> {
        self.stats.lookups += 1;
        self.stats.prompt_tokens += prompt.len();
        let limit = prompt.len().saturating_sub(1);
        let best = self
            .entries
            .iter_mut()
            .filter(|e| e.adapter == adapter)
            .map(|e| (common_prefix(&e.tokens, prompt).min(limit), e))
            .filter(|(n, _)| *n > 0)
            .max_by_key(|(n, e)| (*n, e.last_used))?;
        let (n, entry) = best;
        self.clock += 1;
        entry.last_used = self.clock;
        self.stats.hits += 1;
        self.stats.reused_tokens += n;
        Some((entry.kv.clone(), n))
    }

    /// Stores a finished sequence (`tokens` = the fed tokens, one per slot of `kv`). Entries it
    /// extends are dropped; the least recently used ones go when over budget. A sequence larger
    /// than the whole budget is not stored.
    pub fn insert(&mut self, tokens: Vec<u32>, adapter: bool, kv: SeqKv) {
        let bytes = kv.bytes();
        if !self.enabled() || bytes > self.budget_bytes || tokens.len() != kv.len() {
            return;
        }
        let mut freed = 0;
        self.entries.retain(|e| {
            let dominated = e.adapter == adapter && tokens.starts_with(&e.tokens);
            if dominated {
                freed += e.bytes;
            }
            !dominated
        });
        self.used_bytes -= freed;
        while self.used_bytes + bytes > self.budget_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let e = self.entries.swap_remove(oldest);
            self.used_bytes -= e.bytes;
            self.stats.evictions += 1;
        }
        self.clock += 1;
        self.used_bytes += bytes;
        self.entries.push(Entry {
            tokens,
            adapter,
            kv,
            bytes,
            last_used: self.clock,
        });
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
