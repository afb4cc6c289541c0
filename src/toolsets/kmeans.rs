//! Seeded k-means++ with size bounds.
//!
//! Initialization is k-means++ (first center uniform, each next one drawn with probability
//! proportional to the squared distance to the nearest chosen center) from a ChaCha RNG seeded
//! with [`ClusterOptions::seed`]. Assignment is capacity-constrained: all (point, center) pairs
//! are taken in order of distance and a point joins the closest center that still has room
//! under `max_size`. Centers are the means of their members. After convergence, clusters
//! smaller than `min_size` are dissolved into the nearest clusters with room. Everything is
//! computed in a fixed order, so a seed gives the same clusters on every run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Error, Result};

/// Options of [`cluster_vectors`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// RNG seed of the k-means++ initialization.
    pub seed: u64,
    /// Number of clusters; `None` = `n / ((min_size + max_size) / 2)`, rounded up.
    pub k: Option<usize>,
    /// Smallest toolset (smaller clusters are merged away where possible).
    pub min_size: usize,
    /// Largest toolset.
    pub max_size: usize,
    /// Lloyd iterations at most.
    pub iterations: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            seed: 0,
            k: None,
            min_size: 3,
            max_size: 8,
            iterations: 50,
        }
    }
}

fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Groups vectors (all of one dimension) into clusters of indices; each cluster's members and
/// the list of clusters (by first member) are sorted.
pub fn cluster_vectors(vectors: &[Vec<f32>], opts: &ClusterOptions) -> Result<Vec<Vec<usize>>> {
    let n = vectors.len();
    if opts.max_size == 0 || opts.min_size > opts.max_size {
        return Err(Error::Options(format!(
            "min_size {} and max_size {} must satisfy 1 <= max_size and min_size <= max_size",
            opts.min_size, opts.max_size
        )));
    }
    if let Some(d) = vectors.first().map(Vec::len) {
        if let Some(i) = vectors.iter().position(|v| v.len() != d) {
            return Err(Error::Options(format!(
                "vector {i} has {} dimensions, vector 0 has {d}",
                vectors[i].len()
            )));
        }
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let min_k = n.div_ceil(opts.max_size);
    let target = opts
        .min_size
        .saturating_add(opts.max_size)
        .div_ceil(2)
        .max(1);
    let k = opts
        .k
        .unwrap_or_else(|| n.div_ceil(target))
        .max(min_k)
        .min(n)
        .max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut centers = init_plus_plus(vectors, k, &mut rng);
    let mut assign = vec![usize::MAX; n];
    for _ in 0..opts.iterations.max(1) {
        let next = assign_capacity(vectors, &centers, opts.max_size);
        let changed = next != assign;
        assign = next;
        centers = means(vectors, &assign, &centers);
        if !changed {
            break;
        }
    }
    dissolve_small(vectors, &mut assign, &centers, opts);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); centers.len()];
    for (i, &c) in assign.iter().enumerate() {
        if let Some(g) = groups.get_mut(c) {
            g.push(i);
        }
    }
    groups.retain(|g| !g.is_empty());
    groups.sort_by_key(|g| g.first().copied());
    Ok(groups)
}

fn init_plus_plus(vectors: &[Vec<f32>], k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let n = vectors.len();
    let mut chosen = vec![rng.random_range(0..n)];
    let mut d: Vec<f32> = vectors
        .iter()
        .map(|v| dist2(v, &vectors[chosen[0]]))
        .collect();
    while chosen.len() < k {
        let total: f64 = d.iter().map(|&x| f64::from(x)).sum();
        let pick = if total <= 0.0 {
            // All remaining points coincide with centers: take the first unchosen one.
            (0..n).find(|i| !chosen.contains(i)).unwrap_or(0)
        } else {
            let mut r = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &x) in d.iter().enumerate() {
                r -= f64::from(x);
                if r <= 0.0 && x > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        chosen.push(pick);
        for (i, v) in vectors.iter().enumerate() {
            d[i] = d[i].min(dist2(v, &vectors[pick]));
        }
    }
    chosen.iter().map(|&i| vectors[i].clone()).collect()
}

fn assign_capacity(vectors: &[Vec<f32>], centers: &[Vec<f32>], max_size: usize) -> Vec<usize> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::with_capacity(vectors.len() * centers.len());
    for (i, v) in vectors.iter().enumerate() {
        for (c, center) in centers.iter().enumerate() {
            pairs.push((dist2(v, center), i, c));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut assign = vec![usize::MAX; vectors.len()];
    let mut size = vec![0usize; centers.len()];
    for (_, i, c) in pairs {
        if assign[i] == usize::MAX && size[c] < max_size {
            assign[i] = c;
            size[c] += 1;
        }
    }
    assign
}

fn means(vectors: &[Vec<f32>], assign: &[usize], old: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let dim = old.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0f32; dim]; old.len()];
    let mut counts = vec![0usize; old.len()];
    for (v, &c) in vectors.iter().zip(assign) {
        if let Some(s) = sums.get_mut(c) {
            s.iter_mut().zip(v).for_each(|(a, b)| *a += b);
            counts[c] += 1;
        }
    }
    sums.into_iter()
        .zip(counts)
        .zip(old)
        .map(|((s, n), o)| {
            if n == 0 {
                o.clone()
            } else {
                s.into_iter().map(|x| x / n as f32).collect()
            }
        })
        .collect()
}

/// Moves the members of clusters below `min_size` to the nearest cluster with room, smallest
/// clusters first, until none is too small or nothing can move.
fn dissolve_small(
    vectors: &[Vec<f32>],
    assign: &mut [usize],
    centers: &[Vec<f32>],
    opts: &ClusterOptions,
) {
    loop {
        let mut size = vec![0usize; centers.len()];
        for &c in assign.iter() {
            if let Some(s) = size.get_mut(c) {
                *s += 1;
            }
        }
        let small = (0..centers.len())
            .filter(|&c| size[c] > 0 && size[c] < opts.min_size)
            .min_by_key(|&c| (size[c], c));
        let Some(small) = small else { return };
        let members: Vec<usize> = (0..assign.len()).filter(|&i| assign[i] == small).collect();
        let mut moved = false;
        for i in members {
            let target = (0..centers.len())
                .filter(|&c| c != small && size[c] > 0 && size[c] < opts.max_size)
                .min_by(|&a, &b| {
                    dist2(&vectors[i], &centers[a])
                        .total_cmp(&dist2(&vectors[i], &centers[b]))
                        .then(a.cmp(&b))
                });
            if let Some(t) = target {
                assign[i] = t;
                size[t] += 1;
                size[small] -= 1;
                moved = true;
            }
        }
        if !moved || size[small] > 0 {
            // The rest could not move (every other cluster is full): keep it as it is.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> Vec<Vec<f32>> {
        let mut v = Vec::new();
        for (cx, cy) in [(0.0f32, 0.0f32), (10.0, 0.0), (0.0, 10.0)] {
            for j in 0..5 {
                v.push(vec![cx + j as f32 * 0.1, cy - j as f32 * 0.1]);
            }
        }
        v
    }

    #[test]
    fn finds_separated_blobs() {
        let opts = ClusterOptions {
            k: Some(3),
            min_size: 2,
            max_size: 8,
            ..Default::default()
        };
        let g = cluster_vectors(&blobs(), &opts).unwrap();
        assert_eq!(
            g,
            vec![
                (0..5).collect::<Vec<_>>(),
                (5..10).collect(),
                (10..15).collect()
            ]
        );
    }

    #[test]
    fn respects_size_bounds() {
        let opts = ClusterOptions {
            k: Some(2),
            min_size: 4,
            max_size: 6,
            ..Default::default()
        };
        let g = cluster_vectors(&blobs(), &opts).unwrap();
        assert!(g.iter().all(|c| c.len() <= 6), "{g:?}");
        assert_eq!(g.iter().map(Vec::len).sum::<usize>(), 15);
        let opts = ClusterOptions {
            k: Some(7),
            min_size: 3,
            max_size: 8,
            ..Default::default()
        };
        let g = cluster_vectors(&blobs(), &opts).unwrap();
        assert!(g.iter().all(|c| c.len() >= 3), "{g:?}");
    }

    #[test]
    fn bad_options_are_errors() {
        let opts = ClusterOptions {
            min_size: 5,
            max_size: 2,
            ..Default::default()
        };
        assert!(cluster_vectors(&blobs(), &opts).is_err());
        assert!(cluster_vectors(&[vec![1.0], vec![1.0, 2.0]], &ClusterOptions::default()).is_err());
    }
}
