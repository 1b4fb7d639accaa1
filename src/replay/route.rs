//! Which cluster a dead letter is replayed on: the replayer's, unless the
//! letter names another one (refused, unless any cluster is allowed).

use super::job::Replayer;

impl Replayer {
    /// The cluster a letter is replayed (or fetched back) on: the
    /// configured one, unless the letter names another cluster, which is
    /// refused; else the letter's own. `Ok(None)`: no cluster known.
    pub(super) fn target_cluster(&self, letters: Option<&str>) -> Result<Option<String>, String> {
        match (self.cfg.bootstrap_servers.as_deref(), letters) {
            (Some(ours), Some(theirs)) if !self.cfg.any_cluster && !same_cluster(ours, theirs) => Err(format!(
                "the dead letter belongs to cluster {theirs}; this replayer works on {ours} (replay it with that cluster's bootstrap servers, or allow any cluster)"
            )),
            (Some(ours), _) => Ok(Some(ours.to_owned())),
            (None, theirs) => Ok(theirs.map(str::to_owned)),
        }
    }
}

/// Whether two bootstrap lists name the same cluster: they share a broker
/// host (listeners of one cluster differ only in port).
fn same_cluster(a: &str, b: &str) -> bool {
    let hosts = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|s| {
                let s = s.trim();
                s.rsplit_once(':')
                    .map_or(s, |(h, _)| h)
                    .to_ascii_lowercase()
            })
            .filter(|h| !h.is_empty())
            .collect()
    };
    let ours = hosts(a);
    hosts(b).iter().any(|h| ours.contains(h))
}

#[cfg(test)]
mod tests {
    use super::same_cluster;

    #[test]
    fn clusters_are_told_apart_by_broker_host() {
        assert!(same_cluster(
            "b-1.c.kafka:9098,b-2.c.kafka:9098",
            "b-2.c.kafka:9094"
        ));
        assert!(!same_cluster("b-1.c.kafka:9098", "b-1.other.kafka:9098"));
        assert!(same_cluster("127.0.0.1:29092", "127.0.0.1:29092"));
    }
}
