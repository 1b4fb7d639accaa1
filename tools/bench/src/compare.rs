//! `--compare results.jsonl --baseline LABEL`: result lines to a markdown
//! table, one group per event, with ratios against the baseline's row for
//! the same event (value / baseline value: 10x = ten times slower/bigger).
//! Lines from several rounds (`--round`) are paired round by round: on a
//! machine whose speed drifts, a ratio from runs made side by side holds
//! better than one from runs minutes apart.

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

fn round(v: &Value) -> Option<u64> {
    v["round"].as_u64()
}

/// `field` of each of `rows` over that of the `base` row of the same round
/// (the first base row for a row without a round).
fn same_round_ratios(rows: &[&Value], base: &[&Value], field: &str) -> Vec<f64> {
    rows.iter()
        .filter_map(|r| {
            let b = base
                .iter()
                .find(|b| round(b) == round(r))
                .or(base.first())?;
            let (v, b) = (num(r, field)?, num(b, field)?);
            (b > 0.0).then_some(v / b)
        })
        .collect()
}

/// An event's name in the table: its file name, or "-".
fn event_name(k: &(u64, u64, String)) -> &str {
    if k.2.is_empty() {
        "-"
    } else {
        &k.2
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

/// The median of `ratios`, with their range when `spread` is asked for.
fn ratio_cell(ratios: &[f64], spread: bool) -> String {
    let Some(m) = median(ratios.to_vec()) else {
        return "n/a".into();
    };
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if spread && ratios.len() > 1 {
        format!("{} ({}-{})", times(m), times(lo), times(hi))
    } else {
        times(m)
    }
}

pub fn table(
    files: &[impl AsRef<Path>],
    baseline: Option<&str>,
    pairs: &[String],
) -> anyhow::Result<String> {
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

    let rounds = rows.iter().filter_map(round).max().unwrap_or(0);

    let mut out = String::new();
    if rounds > 1 {
        out.push_str(&format!(
            "{rounds} rounds, each label run once per round. Times: the median over rounds; \
             ratios: value / `{baseline}` in the same round, the median over rounds \
             (the median ratio's lowest and highest round in brackets).\n\n"
        ));
    } else {
        out.push_str(&format!(
            "Ratios: value / `{baseline}` on the same event.\n\n"
        ));
    }
    out.push_str("| event | records | MB | label | median ms | min ms | p90 ms | CPU ms | init ms | peak RSS MiB | median ratio | min ratio | CPU ratio | init ratio | RSS ratio |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for k in &keys {
        let group: Vec<&Value> = rows.iter().filter(|r| &key(r) == k).collect();
        // Labels in order of appearance, the baseline first.
        let mut labels: Vec<String> = vec![baseline.clone()];
        for r in &group {
            if !labels.contains(&label(r)) {
                labels.push(label(r));
            }
        }
        let base: Vec<&Value> = group
            .iter()
            .filter(|r| label(r) == baseline)
            .copied()
            .collect();
        for l in &labels {
            let mine: Vec<&Value> = group.iter().filter(|r| &label(r) == l).copied().collect();
            if mine.is_empty() {
                continue;
            }
            // This label's value over its rounds, and its ratio to the
            // baseline's row of the same round (the one baseline row when
            // there are no rounds).
            let agg = |f: &str| median(mine.iter().filter_map(|r| num(r, f)).collect());
            let ratios = |f: &str| same_round_ratios(&mine, &base, f);
            let rss_mib = mine
                .iter()
                .filter_map(|r| num(r, "peak_rss_kb"))
                .reduce(f64::max)
                .map(|kb| kb / 1024.0);
            let min_ms = mine
                .iter()
                .filter_map(|r| num(r, "min_ms"))
                .reduce(f64::min);
            out.push_str(&format!(
                "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                event_name(k),
                k.0,
                k.1 as f64 / 1e6,
                l,
                fmt_ms(agg("median_ms")),
                fmt_ms(min_ms),
                fmt_ms(agg("p90_ms")),
                fmt_ms(agg("cpu_ms")),
                fmt_ms(agg("init_ms")),
                rss_mib.map(|m| format!("{m:.1}")).unwrap_or("n/a".into()),
                ratio_cell(&ratios("median_ms"), rounds > 1),
                ratio_cell(&ratios("min_ms"), false),
                ratio_cell(&ratios("cpu_ms"), false),
                ratio_cell(&ratios("init_ms"), false),
                ratio_cell(&ratios("peak_rss_kb"), false),
            ));
        }
    }
    if !pairs.is_empty() {
        out.push('\n');
    }
    for pair in pairs {
        let Some((a, b)) = pair.split_once('/') else {
            bail!("--pair {pair:?}: expected A/B");
        };
        for k in &keys {
            let of = |l: &str| -> Vec<&Value> {
                rows.iter()
                    .filter(|r| &key(r) == k && label(r) == l)
                    .collect()
            };
            let ratios = same_round_ratios(&of(a), &of(b), "median_ms");
            if !ratios.is_empty() {
                out.push_str(&format!(
                    "{}: `{a}` / `{b}`, median time: {}\n",
                    event_name(k),
                    ratio_cell(&ratios, true)
                ));
            }
        }
    }
    Ok(out)
}
