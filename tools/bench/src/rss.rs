//! Peak resident set size of a process tree, from `/proc`.
//!
//! `VmHWM` is a per-process high-water mark, so the peak of a process that
//! is still alive is read correctly at any later time. Children are found by
//! scanning `/proc/*/stat` for their parent id (this kernel has no
//! `/proc/<pid>/task/<tid>/children`). The tree is sampled after every
//! invocation, so a child that lives through at least one sample is counted;
//! the total is the sum of each process's own peak (an upper bound on the
//! tree's simultaneous peak when the peaks do not coincide).

use std::collections::{HashMap, HashSet};

fn ppid_map() -> HashMap<i32, Vec<i32>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may contain spaces and ')'.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let _state = fields.next();
        if let Some(ppid) = fields.next().and_then(|s| s.parse::<i32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

/// `root` and all its descendants alive now.
pub fn tree(root: i32) -> Vec<i32> {
    let map = ppid_map();
    let mut out = vec![root];
    let mut seen = HashSet::from([root]);
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = map.get(&out[i]) {
            for &k in kids {
                if seen.insert(k) {
                    out.push(k);
                }
            }
        }
        i += 1;
    }
    out
}

pub fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[derive(Default)]
pub struct Tracker {
    peaks: HashMap<i32, u64>,
}

impl Tracker {
    pub fn sample(&mut self, root: i32) {
        for pid in tree(root) {
            if let Some(kb) = vm_hwm_kb(pid) {
                let e = self.peaks.entry(pid).or_default();
                *e = (*e).max(kb);
            }
        }
    }

    pub fn total_kb(&self) -> u64 {
        self.peaks.values().sum()
    }

    pub fn processes(&self) -> usize {
        self.peaks.len()
    }
}

/// CPU time (ns) used so far by every thread of `root` and its live
/// descendants, from `/proc/<pid>/task/<tid>/schedstat` (first field: time
/// on CPU). Unlike wall-clock time it does not grow while the function
/// waits for a core that other work holds.
pub fn tree_cpu_ns(root: i32) -> u64 {
    let mut total = 0;
    for pid in tree(root) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let p = t.path().join("schedstat");
            if let Some(ns) = std::fs::read_to_string(p).ok().and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
            }) {
                total += ns;
            }
        }
    }
    total
}
