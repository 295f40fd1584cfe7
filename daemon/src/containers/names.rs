//! Docker-style generated names ("adjective_surname") and name validation.

const LEFT: &[&str] = &[
    "admiring",
    "agitated",
    "amazing",
    "bold",
    "brave",
    "busy",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elated",
    "epic",
    "festive",
    "focused",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "loving",
    "lucid",
    "modest",
    "nifty",
    "nostalgic",
    "peaceful",
    "priceless",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];

const RIGHT: &[&str] = &[
    "albattani",
    "babbage",
    "bell",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermi",
    "feynman",
    "galileo",
    "goldberg",
    "hamilton",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "mccarthy",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "raman",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yonath",
];

pub fn generate() -> String {
    let l = LEFT[rand::random_range(0..LEFT.len())];
    let r = RIGHT[rand::random_range(0..RIGHT.len())];
    format!("{l}_{r}")
}

/// Docker's rule, shared with network names.
pub use ferry_network::valid_name as validate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_names() {
        for _ in 0..50 {
            let n = generate();
            assert!(validate(&n).is_some(), "{n}");
        }
    }
}
