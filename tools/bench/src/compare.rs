//! `--compare results.jsonl --baseline LABEL`: result lines to a markdown
//! table, one group per event, with ratios against the baseline's row for
//! the same event (value / baseline value: 10x = ten times slower/bigger).

use std::path::Path;

use anyhow::{bail, Context as _};
use serde_json::Value;

fn num(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn fmt_ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => "n/a".into(),
    }
}

fn ratio(v: Option<f64>, base: Option<f64>) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => {
            let r = v / b;
            if r >= 10.0 {
                format!("{r:.0}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "n/a".into(),
    }
}

pub fn table(files: &[impl AsRef<Path>], baseline: Option<&str>) -> anyhow::Result<String> {
    let mut rows: Vec<Value> = Vec::new();
    for f in files {
        let f = f.as_ref();
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || !line.starts_with('{') {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a JSON line", f.display(), n + 1))?;
            rows.push(v);
        }
    }
    if rows.is_empty() {
        bail!("no result lines");
    }
    let label = |v: &Value| v["label"].as_str().unwrap_or("?").to_owned();
    let baseline = baseline
        .map(str::to_owned)
        .unwrap_or_else(|| label(&rows[0]));
    if !rows.iter().any(|r| label(r) == baseline) {
        bail!("baseline label {baseline:?} is in no result line");
    }
    // Group by event: the event file name when present, else its size.
    let key = |v: &Value| -> (u64, u64, String) {
        (
            v["records"].as_u64().unwrap_or(0),
            v["event_bytes"].as_u64().unwrap_or(0),
            v["event"].as_str().unwrap_or("").to_owned(),
        )
    };
    let mut keys: Vec<(u64, u64, String)> = rows.iter().map(key).collect();
    keys.sort();
    keys.dedup();

    let mut out = String::new();
    out.push_str(&format!(
        "Ratios: value / `{baseline}` on the same event.\n\n"
    ));
    out.push_str("| event | records | MB | label | median ms | min ms | p90 ms | CPU ms | init ms | peak RSS MiB | median ratio | min ratio | CPU ratio | init ratio | RSS ratio |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for k in &keys {
        let group: Vec<&Value> = rows.iter().filter(|r| &key(r) == k).collect();
        let base = group.iter().find(|r| label(r) == baseline).copied();
        let mut ordered: Vec<&Value> = base.into_iter().collect();
        ordered.extend(
            group
                .iter()
                .filter(|r| !base.is_some_and(|b| std::ptr::eq(b, **r)))
                .copied(),
        );
        for r in ordered {
            let b = |f: &str| base.and_then(|b| num(b, f));
            let rss_mib = num(r, "peak_rss_kb").map(|kb| kb / 1024.0);
            let ev = if k.2.is_empty() {
                "-".to_owned()
            } else {
                k.2.clone()
            };
            out.push_str(&format!(
                "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                ev,
                k.0,
                k.1 as f64 / 1e6,
                label(r),
                fmt_ms(num(r, "median_ms")),
                fmt_ms(num(r, "min_ms")),
                fmt_ms(num(r, "p90_ms")),
                fmt_ms(num(r, "cpu_ms")),
                fmt_ms(num(r, "init_ms")),
                rss_mib.map(|m| format!("{m:.1}")).unwrap_or("n/a".into()),
                ratio(num(r, "median_ms"), b("median_ms")),
                ratio(num(r, "min_ms"), b("min_ms")),
                ratio(num(r, "cpu_ms"), b("cpu_ms")),
                ratio(num(r, "init_ms"), b("init_ms")),
                ratio(num(r, "peak_rss_kb"), b("peak_rss_kb")),
            ));
        }
    }
    Ok(out)
}
