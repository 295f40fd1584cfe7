//! `images`: the records to list, after Docker's `REPOSITORY[:TAG]` argument and `--filter`s
//! (`reference=`, `dangling=`, `before=`, `since=`, `label=`): values of one key are OR'd, keys
//! AND'd. Labels come from each image's config.

use std::collections::{BTreeMap, HashMap};

use super::refs::{familiar, repository_of};
use super::ImageRecord;
use crate::distribution::Reference;
use crate::error::{Error, Result};
use crate::store::Store;

/// One listed record, with what the filters and `--format` need from its config.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: ImageRecord,
    pub labels: BTreeMap<String, String>,
}

/// Parsed `--filter key=value` arguments.
#[derive(Debug, Default)]
pub struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    pub fn parse(args: &[String]) -> Result<Filters> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                return Err(Error::InvalidArgument(
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            let key = k.trim().to_ascii_lowercase();
            match key.as_str() {
                "dangling" if !matches!(v, "true" | "false" | "1" | "0") => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid filter 'dangling={v}'"
                    )))
                }
                "reference" | "dangling" | "before" | "since" | "label" => {}
                _ => return Err(Error::InvalidArgument(format!("invalid filter '{k}'"))),
            }
            map.entry(key).or_default().push(v.to_string());
        }
        Ok(Filters(map))
    }

    fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Every record, with its config's labels when `with_labels` (reading configs costs a file each).
pub fn listed(store: &Store, with_labels: bool) -> Result<Vec<Listed>> {
    store
        .meta
        .images()?
        .into_iter()
        .map(|record| {
            let labels = if with_labels {
                labels_of(&super::inspect::config_json(store, &record)?)
            } else {
                BTreeMap::new()
            };
            Ok(Listed { record, labels })
        })
        .collect()
}

fn labels_of(config: &serde_json::Value) -> BTreeMap<String, String> {
    config
        .pointer("/config/Labels")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Filters {
    /// Whether a `label=` filter needs each image's config.
    pub fn wants_labels(&self) -> bool {
        self.0.contains_key("label")
    }
}

/// Selects and orders (newest first) what `images [REPOSITORY[:TAG]] --filter …` shows.
/// `created_of` resolves `before=`/`since=` images to their creation times.
pub fn select(
    mut images: Vec<Listed>,
    repo_arg: &str,
    filters: &Filters,
    created_of: &dyn Fn(&str) -> Result<i64>,
) -> Result<Vec<Listed>> {
    if repo_arg.contains(['*', '?']) {
        // `images 'bus*'`: Docker reads a pattern as a reference filter.
        images.retain(|i| !i.record.is_untagged() && reference_matches(repo_arg, &i.record.name));
    } else if !repo_arg.is_empty() {
        let r = Reference::parse(repo_arg)?;
        let exact = repo_arg
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
        images.retain(|i| {
            if exact {
                i.record.name == r.to_string()
            } else {
                !i.record.is_untagged() && repository_of(&i.record.name) == r.name()
            }
        });
    }
    let before = bound(filters.get("before"), created_of)?;
    let since = bound(filters.get("since"), created_of)?;
    images.retain(|i| {
        matches_filters(i, filters)
            && before.is_none_or(|t| i.record.created < t)
            && since.is_none_or(|t| i.record.created > t)
    });
    images.sort_by(|a, b| {
        b.record
            .created
            .cmp(&a.record.created)
            .then_with(|| a.record.name.cmp(&b.record.name))
    });
    Ok(images)
}

fn bound(values: &[String], created_of: &dyn Fn(&str) -> Result<i64>) -> Result<Option<i64>> {
    values.first().map(|v| created_of(v)).transpose()
}

fn matches_filters(i: &Listed, f: &Filters) -> bool {
    let refs = f.get("reference");
    let reference_ok = refs.is_empty()
        || (!i.record.is_untagged() && refs.iter().any(|p| reference_matches(p, &i.record.name)));
    let dangling_ok = f
        .get("dangling")
        .iter()
        .all(|v| matches!(v.as_str(), "true" | "1") == i.record.is_untagged());
    let label_ok = f.get("label").iter().all(|l| match l.split_once('=') {
        Some((k, v)) => i.labels.get(k).is_some_and(|have| have == v),
        None => i.labels.contains_key(l.as_str()),
    });
    reference_ok && dangling_ok && label_ok
}

/// Docker's `reference.FamiliarMatch`: the glob against the familiar name, or against the
/// familiar name with its tag.
pub fn reference_matches(pattern: &str, full: &str) -> bool {
    let name = familiar(repository_of(full));
    glob(pattern.as_bytes(), name.as_bytes()) || glob(pattern.as_bytes(), familiar(full).as_bytes())
}

/// Go's `path.Match` for `*`, `?` and literal bytes (`*` and `?` stop at `/`).
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&p[1..], s) || (s.first().is_some_and(|&c| c != b'/') && glob(p, &s[1..]))
        }
        (Some(b'?'), Some(&c)) => c != b'/' && glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) => a == b && glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::refs::tests::record;
    use super::*;

    #[test]
    fn a_positional_pattern_is_a_reference_glob() {
        let all = vec![
            listed("docker.io/library/busybox:latest", 'a', 1, &[]),
            listed("docker.io/library/alpine:3", 'b', 1, &[]),
        ];
        let none = Filters::parse(&[]).unwrap();
        let names = |arg: &str| -> Vec<String> {
            select(all.clone(), arg, &none, &|_| Ok(0))
                .unwrap()
                .into_iter()
                .map(|l| l.record.name)
                .collect()
        };
        assert_eq!(names("bus*"), ["docker.io/library/busybox:latest"]);
        assert_eq!(names("*:3"), ["docker.io/library/alpine:3"]);
        assert!(names("nope*").is_empty());
    }

    fn listed(name: &str, id: char, created: i64, labels: &[(&str, &str)]) -> Listed {
        let mut record = record(name, id, ' ');
        record.created = created;
        Listed {
            record,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn names(filters: &[&str], repo: &str) -> Result<Vec<String>> {
        let all = vec![
            listed(
                "docker.io/library/busybox:latest",
                'a',
                30,
                &[("app", "web")],
            ),
            listed("docker.io/library/busybox:1", 'b', 20, &[]),
            listed("127.0.0.1:5000/x/y:v1", 'c', 10, &[("app", "db")]),
            listed("docker.io/library/old:1", 'd', 5, &[])
                .record
                .untagged()
                .into_listed(),
        ];
        let f = Filters::parse(&filters.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        let created = |q: &str| -> Result<i64> {
            match q {
                "busybox:1" => Ok(20),
                _ => Err(Error::ImageNotFound(q.into())),
            }
        };
        Ok(select(all, repo, &f, &created)?
            .into_iter()
            .map(|l| familiar(&l.record.name))
            .collect())
    }

    impl ImageRecord {
        fn into_listed(self) -> Listed {
            Listed {
                record: self,
                labels: BTreeMap::new(),
            }
        }
    }

    #[test]
    fn filters_select_like_docker() {
        let u = format!("@sha256:{}", "d".repeat(64));
        let cases: &[(&[&str], &str, Vec<String>)] = &[
            (
                &[],
                "",
                vec![
                    "busybox:latest".into(),
                    "busybox:1".into(),
                    "127.0.0.1:5000/x/y:v1".into(),
                    u.clone(),
                ],
            ),
            (
                &[],
                "busybox",
                vec!["busybox:latest".into(), "busybox:1".into()],
            ),
            (&[], "busybox:1", vec!["busybox:1".into()]),
            (
                &["reference=busy*"],
                "",
                vec!["busybox:latest".into(), "busybox:1".into()],
            ),
            (&["reference=*:1"], "", vec!["busybox:1".into()]),
            (
                &["reference=*/x/*"],
                "",
                vec!["127.0.0.1:5000/x/y:v1".into()],
            ),
            (&["reference=x/*"], "", vec![]),
            (&["dangling=true"], "", vec![u.clone()]),
            (
                &["dangling=false", "label=app"],
                "",
                vec!["busybox:latest".into(), "127.0.0.1:5000/x/y:v1".into()],
            ),
            (&["label=app=db"], "", vec!["127.0.0.1:5000/x/y:v1".into()]),
            (
                &["before=busybox:1"],
                "",
                vec!["127.0.0.1:5000/x/y:v1".into(), u.clone()],
            ),
            (&["since=busybox:1"], "", vec!["busybox:latest".into()]),
        ];
        for (f, repo, want) in cases {
            assert_eq!(&names(f, repo).unwrap(), want, "{f:?} {repo}");
        }
        assert!(names(&["dangling=maybe"], "").is_err());
        assert!(names(&["color=red"], "").is_err());
        assert!(names(&["nokey"], "").is_err());
        assert!(names(&["before=nosuch"], "").is_err());
    }

    #[test]
    fn glob_is_path_match() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(!glob(b"*", b"a/b"));
        assert!(glob(b"*/*", b"a/b"));
        assert!(glob(b"b?sybox", b"busybox"));
    }
}
