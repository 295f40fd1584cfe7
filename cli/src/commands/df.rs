//! `ferry system df [-v]`: what images, containers and volumes use on disk, and what could go,
//! computed as Docker's `system df` formatter does.

use clap::Args;
use ferry_proto::system::v1::{system_client::SystemClient, DiskUsageRequest, DiskUsageResponse};

use super::images::short_id;
use crate::render::{ago, human_size, repo_and_tag, table};

#[derive(Debug, Args)]
pub(crate) struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
}

pub(crate) async fn run(host: &str, args: DfArgs) -> anyhow::Result<i32> {
    let mut client = SystemClient::new(crate::client::connect(host).await?);
    let du = client.disk_usage(DiskUsageRequest {}).await?.into_inner();
    if args.verbose {
        print!("{}", verbose(&du, chrono::Utc::now().timestamp()));
    } else {
        print!("{}", summary(&du));
    }
    Ok(0)
}

/// TYPE TOTAL ACTIVE SIZE RECLAIMABLE.
fn summary(du: &DiskUsageResponse) -> String {
    let active_images = du.images.iter().filter(|i| i.containers > 0).count();
    // Docker's formatter: in-use images hold their unique bytes; the rest could go.
    let used: u64 = du
        .images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| i.size.saturating_sub(i.shared_size))
        .sum();
    let c_total: u64 = du.containers.iter().map(|c| c.size_rw).sum();
    let c_free: u64 = du
        .containers
        .iter()
        .filter(|c| !c.active)
        .map(|c| c.size_rw)
        .sum();
    let v_total: u64 = du.volumes.iter().map(|v| v.size).sum();
    let v_free: u64 = du
        .volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    let rows = vec![
        cells(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]),
        vec![
            "Images".into(),
            du.images.len().to_string(),
            active_images.to_string(),
            human_size4(du.layers_size),
            reclaimable(du.layers_size.saturating_sub(used), du.layers_size),
        ],
        vec![
            "Containers".into(),
            du.containers.len().to_string(),
            du.containers
                .iter()
                .filter(|c| c.active)
                .count()
                .to_string(),
            human_size4(c_total),
            reclaimable(c_free, c_total),
        ],
        vec![
            "Local Volumes".into(),
            du.volumes.len().to_string(),
            du.volumes
                .iter()
                .filter(|v| v.links > 0)
                .count()
                .to_string(),
            human_size4(v_total),
            reclaimable(v_free, v_total),
        ],
        cells(&["Build Cache", "0", "0", "0B", "0B"]),
    ];
    table(&rows)
}

fn verbose(du: &DiskUsageResponse, now: i64) -> String {
    let mut out = String::from("Images space usage:\n\n");
    let mut rows = vec![cells(&[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ])];
    for i in &du.images {
        let (repo, tag) = if i.name.is_empty() {
            ("<none>".into(), "<none>".into())
        } else {
            repo_and_tag(&i.name)
        };
        rows.push(vec![
            repo,
            tag,
            short_id(&i.id, true),
            ago(i.created, now),
            human_size(i.size),
            human_size(i.shared_size),
            human_size(i.size.saturating_sub(i.shared_size)),
            i.containers.to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nContainers space usage:\n\n");
    let mut rows = vec![cells(&["CONTAINER ID", "IMAGE", "SIZE", "STATUS", "NAMES"])];
    for c in &du.containers {
        rows.push(vec![
            c.id.chars().take(12).collect(),
            c.image.clone(),
            human_size(c.size_rw),
            c.state.clone(),
            c.name.clone(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut rows = vec![cells(&["VOLUME NAME", "LINKS", "SIZE"])];
    for v in &du.volumes {
        rows.push(vec![
            v.name.clone(),
            v.links.to_string(),
            human_size(v.size),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str("\nBuild cache usage: 0B\n");
    out
}

fn cells(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

/// `1.2MB (40%)`, or the size alone when the total is 0.
fn reclaimable(free: u64, total: u64) -> String {
    match (free * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", human_size4(free)),
        None => human_size4(free),
    }
}

/// Docker's `units.HumanSize` (4 significant digits): 4.261MB.
pub(crate) fn human_size4(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let int_digits = (size.log10().floor().max(0.0) as usize) + 1;
    let decimals = 4usize.saturating_sub(int_digits);
    let mut s = format!("{size:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::images::v1::Image;
    use ferry_proto::system::v1::ContainerUsage;

    #[test]
    fn sizes_have_four_digits() {
        assert_eq!(human_size4(0), "0B");
        assert_eq!(human_size4(4_261_234), "4.261MB");
        assert_eq!(human_size4(999), "999B");
        assert_eq!(human_size4(10_500_000), "10.5MB");
    }

    #[test]
    fn summary_matches_docker() {
        let img = |size, shared, containers| Image {
            size,
            shared_size: shared,
            containers,
            ..Default::default()
        };
        let du = DiskUsageResponse {
            layers_size: 5_000_000,
            images: vec![img(4_000_000, 4_000_000, 1), img(5_000_000, 4_000_000, 0)],
            containers: vec![ContainerUsage {
                active: true,
                size_rw: 0,
                ..Default::default()
            }],
            volumes: vec![],
        };
        assert_eq!(
            summary(&du),
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          2         1         5MB       5MB (100%)\n\
             Containers      1         1         0B        0B\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
    }
}
