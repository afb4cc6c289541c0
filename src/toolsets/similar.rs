//! Candidate groups for the MCP-tree refinement: tools whose embeddings are close.
//!
//! Mean-pooled hidden states are anisotropic (every pair of SmolLM2-135M definition
//! embeddings of the shipped specs has a cosine of 0.67–0.98), so similarity is measured on
//! mean-centred vectors (the pool's mean subtracted, renormalized), where the same pairs spread
//! over −0.53–0.85 and a real duplicate stays near 1. Each tool keeps its `max_neighbors`
//! nearest tools at or above the threshold (computed as matrix products of row blocks, so the
//! pool's full similarity matrix is never held); the edges are joined strongest first into groups of at
//! most `max_group` tools (single linkage with a size cap). Deterministic for a given input.

use std::cmp::Ordering;

/// Candidate groups and the centred vectors they were found with.
#[derive(Debug, Clone)]
pub struct Candidates {
    /// Groups of ≥ 2 tool indices, each sorted, ordered by their first index.
    pub groups: Vec<Vec<usize>>,
    /// Unit-length mean-centred vectors (the input vectors when there are fewer than 3).
    pub centred: Vec<Vec<f32>>,
}

impl Candidates {
    /// Cosine similarity of tools `a` and `b` (centred vectors).
    pub fn similarity(&self, a: usize, b: usize) -> f32 {
        match (self.centred.get(a), self.centred.get(b)) {
            (Some(x), Some(y)) => dot(x, y),
            _ => 0.0,
        }
    }
}

/// Rows of the similarity matrix computed at once.
const BLOCK_ROWS: usize = 256;

/// Finds the candidate groups of `vectors` (one per tool, equal lengths).
pub fn candidate_groups(
    vectors: &[Vec<f32>],
    threshold: f32,
    max_neighbors: usize,
    max_group: usize,
) -> Candidates {
    let centred = centre(vectors);
    let n = centred.len();
    let mut edges: Vec<(f32, usize, usize)> = Vec::new();
    let all = matrix(&centred);
    for start in (0..n).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(n);
        // One block of the similarity matrix as a matrix product (gemm, all cores); the
        // scalar dot products are the fallback should the tensor op fail.
        let sims = all
            .as_ref()
            .and_then(|m| block_similarities(m, start, end).ok());
        let block: Vec<Vec<(f32, usize)>> = {
            use rayon::prelude::*;
            (start..end)
                .into_par_iter()
                .map(|i| match &sims {
                    Some(rows) => nearest_in(&rows[i - start], i, threshold, max_neighbors),
                    None => {
                        let row: Vec<f32> = centred.iter().map(|o| dot(&centred[i], o)).collect();
                        nearest_in(&row, i, threshold, max_neighbors)
                    }
                })
                .collect()
        };
        for (i, near) in (start..end).zip(block) {
            for (s, j) in near {
                edges.push((s, i.min(j), i.max(j)));
            }
        }
    }
    edges.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    edges.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    let mut sets = UnionFind::new(n);
    for &(_, a, b) in &edges {
        sets.union_capped(a, b, max_group.max(2));
    }
    Candidates {
        groups: sets.groups(),
        centred,
    }
}

/// The vectors as one `(n, dim)` CPU tensor (`None` when empty or ragged).
fn matrix(rows: &[Vec<f32>]) -> Option<candle_core::Tensor> {
    let dim = rows.first()?.len();
    if dim == 0 || rows.iter().any(|r| r.len() != dim) {
        return None;
    }
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    candle_core::Tensor::from_vec(flat, (rows.len(), dim), &candle_core::Device::Cpu).ok()
}

/// Rows `start..end` of `m · mᵀ`.
fn block_similarities(
    m: &candle_core::Tensor,
    start: usize,
    end: usize,
) -> candle_core::Result<Vec<Vec<f32>>> {
    m.narrow(0, start, end - start)?
        .matmul(&m.t()?)?
        .to_vec2::<f32>()
}

/// The `k` most similar other tools of tool `i` (its similarity row) at or above
/// `threshold`, most similar first.
fn nearest_in(row: &[f32], i: usize, threshold: f32, k: usize) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::new();
    for (j, &s) in row.iter().enumerate() {
        if j != i && s.is_finite() && s >= threshold {
            best.push((s, j));
        }
    }
    best.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    best.truncate(k);
    best
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Subtracts the mean vector and renormalizes (from 3 vectors on: with two, centring makes
/// them antipodal whatever they are). A vector equal to the mean, or with a non-finite entry
/// or the wrong length, becomes zero (similar to nothing) and is left out of the mean.
fn centre(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut mean = vec![0f64; dim];
    let finite = |v: &Vec<f32>| v.len() == dim && v.iter().all(|x| x.is_finite());
    let counted = vectors.iter().filter(|v| finite(v)).count();
    if counted >= 3 {
        for v in vectors.iter().filter(|v| finite(v)) {
            for (m, x) in mean.iter_mut().zip(v) {
                *m += f64::from(*x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= counted as f64);
    }
    vectors
        .iter()
        .map(|v| {
            if !finite(v) {
                // A broken embedding is similar to nothing (and does not skew the mean).
                return vec![0.0; dim];
            }
            let mut c: Vec<f32> = v
                .iter()
                .zip(mean.iter().chain(std::iter::repeat(&0.0)))
                .map(|(x, m)| (f64::from(*x) - m) as f32)
                .collect();
            let norm = c.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 1e-6 {
                c.iter_mut().for_each(|x| *x /= norm);
            } else {
                c.iter_mut().for_each(|x| *x = 0.0);
            }
            c
        })
        .collect()
}

/// Disjoint sets whose unions stop at a size cap.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union_capped(&mut self, a: usize, b: usize, cap: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb || self.size[ra] + self.size[rb] > cap {
            return;
        }
        // The smaller root index stays the root: deterministic.
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child] = root;
        self.size[root] += self.size[child];
    }

    fn groups(&mut self) -> Vec<Vec<usize>> {
        let n = self.parent.len();
        let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for i in 0..n {
            let r = self.find(i);
            by_root.entry(r).or_default().push(i);
        }
        let mut groups: Vec<Vec<usize>> = by_root.into_values().filter(|g| g.len() >= 2).collect();
        groups.sort_by_key(|g| g[0]);
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn centring_separates_an_anisotropic_pool() {
        // Every vector shares a large common component; 0 and 3 differ only slightly.
        let raw: Vec<Vec<f32>> = [
            [10.0, 1.0, 0.0, 0.0],
            [10.0, 0.0, 1.0, 0.0],
            [10.0, 0.0, 0.0, 1.0],
            [10.0, 1.0, 0.05, 0.0],
        ]
        .iter()
        .map(|v| unit(v))
        .collect();
        assert!(dot(&raw[0], &raw[1]) > 0.98, "raw cosines are all high");
        let c = candidate_groups(&raw, 0.9, 8, 8);
        assert_eq!(c.groups, vec![vec![0, 3]]);
        assert!(c.similarity(0, 3) > 0.99);
        assert!(c.similarity(0, 1) < 0.0);
    }

    #[test]
    fn blocked_search_equals_brute_force_and_groups_are_capped() {
        // 600 vectors (three blocks) in 40 tight clusters of 15, random directions.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| {
                unit(
                    &(0..32)
                        .map(|_| rng.random::<f32>() - 0.5)
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let vecs: Vec<Vec<f32>> = (0..600)
            .map(|i| {
                let c = &centres[i % 40];
                unit(
                    &c.iter()
                        .map(|x| x + 0.02 * (rng.random::<f32>() - 0.5))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let c = candidate_groups(&vecs, 0.95, 4, 6);
        // Brute force over the centred vectors: every pair joined is at least the threshold,
        // and every group is one true cluster, at most 6 members.
        for g in &c.groups {
            assert!(g.len() >= 2 && g.len() <= 6, "{g:?}");
            assert!(g.iter().all(|&i| i % 40 == g[0] % 40), "{g:?}");
        }
        let covered: usize = c.groups.iter().map(Vec::len).sum();
        assert!(covered > 500, "most tools are in a group: {covered}");
        // Deterministic.
        assert_eq!(candidate_groups(&vecs, 0.95, 4, 6).groups, c.groups);
    }

    #[test]
    fn nothing_above_the_threshold_gives_no_group() {
        let vecs: Vec<Vec<f32>> = (0..5)
            .map(|i| {
                let mut v = vec![0.0; 5];
                v[i] = 1.0;
                v
            })
            .collect();
        assert!(candidate_groups(&vecs, 0.5, 8, 8).groups.is_empty());
        assert!(candidate_groups(&[], 0.5, 8, 8).groups.is_empty());
        // Two identical vectors are not centred (that would make them antipodal).
        let two = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        assert_eq!(candidate_groups(&two, 0.9, 8, 8).groups, vec![vec![0, 1]]);
    }

    #[test]
    fn a_broken_vector_is_similar_to_nothing_and_spoils_nothing() {
        let mut vecs: Vec<Vec<f32>> = [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [1.0, 0.02, 0.0],
        ]
        .iter()
        .map(|v| unit(v))
        .collect();
        let clean = candidate_groups(&vecs, 0.9, 8, 8).groups;
        assert_eq!(clean, vec![vec![0, 3]]);
        vecs.push(vec![f32::NAN, 0.0, 0.0]);
        vecs.push(vec![1.0, 0.0]);
        assert_eq!(candidate_groups(&vecs, 0.9, 8, 8).groups, clean);
    }
}
