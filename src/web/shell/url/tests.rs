//! The URL contract's tests: every parameter parses, round-trips through the fragment, and
//! falls back with a notice when it is bad.

use super::*;
use crate::targets::Energy;

#[test]
fn the_documented_example_parses() {
    let (c, notices) = PageConfig::from_url_parts(
        "",
        "#target=u2&flow=nsf&layers=8&hidden=64&lr=0.001&batch=512&backend=cpu&seed=3&autostart=1&steps=300",
    );
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(c.target, Target::Energy(Energy::U2));
    assert_eq!(c.flow, FlowKind::Nsf);
    assert_eq!((c.layers, c.hidden, c.batch, c.seed), (8, 64, 512, 3));
    assert_eq!(c.backend, BackendPref::Cpu);
    assert!(c.autostart);
    assert_eq!(c.steps, Some(300));
    let (again, _) = PageConfig::from_url_parts("", &c.to_fragment());
    assert_eq!(again, c);
}

#[test]
fn bad_values_fall_back_with_notices() {
    let (c, notices) = PageConfig::from_url_parts(
        "?embed=1",
        "#flow=glow&layers=-3&lr=abc&zoom=2&batch=99999999",
    );
    assert_eq!(c.flow, PageConfig::default().flow);
    assert_eq!(c.layers, PageConfig::default().layers);
    assert_eq!(c.batch, PageConfig::default().batch);
    assert!(c.embed);
    assert_eq!(notices.len(), 5, "{notices:?}");
    assert!(notices.iter().any(|n| n.contains("zoom")));
    assert!(notices.iter().any(|n| n.contains("flow=glow")));
}

/// Whatever the form accepts (through `set`) is written to the fragment in a form the URL
/// parser takes back unchanged, at the edges of every range too.
#[test]
fn every_accepted_value_survives_the_url() {
    let cases = [
        ("lr", "0.000001"),
        ("lr", "1e-6"),
        ("lr", "1"),
        ("lr", "0.0003"),
        ("layers", "1"),
        ("layers", "32"),
        ("hidden", "2"),
        ("hidden", "512"),
        ("batch", "8"),
        ("batch", "8192"),
        ("seed", "18446744073709551615"),
        ("target", "draw"),
        ("flow", "nsf"),
        ("backend", "webgpu"),
    ];
    for (key, value) in cases {
        let mut c = PageConfig::default();
        c.set(key, value)
            .unwrap_or_else(|e| panic!("{key}={value}: {e:?}"));
        let (back, notices) = PageConfig::from_url_parts("", &c.to_fragment());
        assert!(notices.is_empty(), "{key}={value}: {notices:?}");
        assert_eq!(back, c, "{key}={value} did not survive {}", c.to_fragment());
    }
    for (key, value) in [("lr", "1e-7"), ("lr", "0"), ("hidden", "1"), ("batch", "7")] {
        let mut c = PageConfig::default();
        assert_eq!(c.set(key, value), Err(SetError::Invalid), "{key}={value}");
    }
    assert_eq!(
        PageConfig::default().set("zoom", "2"),
        Err(SetError::Unknown)
    );
}

/// Random URLs (the characters URLs are made of, and arbitrary bytes after decoding) never
/// panic the parser, and whatever it accepts is within the page's limits.
#[test]
fn random_urls_parse_within_limits() {
    let alphabet: Vec<char> = "=&%#?+-.eE0123456789abcdeflmnorstuwxyz%FFC3"
        .chars()
        .collect();
    let keys = [
        "lr", "layers", "hidden", "batch", "steps", "seed", "target", "flow",
    ];
    let mut rng = crate::rng::Rng::new(11);
    for _ in 0..3000 {
        let mut url = String::new();
        for _ in 0..rng.below(6) {
            url.push_str(keys[rng.below(keys.len())]);
            url.push('=');
            for _ in 0..rng.below(12) {
                url.push(alphabet[rng.below(alphabet.len())]);
            }
            url.push('&');
        }
        let (c, _) = PageConfig::from_url_parts(&url, &url);
        assert!((1..=MAX_LAYERS).contains(&c.layers), "{url}");
        assert!((MIN_HIDDEN..=MAX_HIDDEN).contains(&c.hidden), "{url}");
        assert!((MIN_BATCH..=MAX_BATCH).contains(&c.batch), "{url}");
        assert!(
            c.lr.is_finite() && (MIN_LR..=MAX_LR).contains(&c.lr),
            "{url}"
        );
    }
}

/// Each image view's documented link parses, and its fragment parses back to the same
/// configuration; bad view parameters fall back with notices.
#[test]
fn image_view_links_round_trip() {
    for link in [
        "#view=samples&model=mnist-glow-small&temperature=0.9&seed=3",
        "#view=interpolate&model=fashion-mnist-glow-small&a=12&b=40",
        "#view=arithmetic&model=mnist-glow-gpu&a=7&to=3&alpha=0.75",
        "#view=anomaly&model=mnist-glow-small&score=raw&limit=100",
    ] {
        let (c, notices) = PageConfig::from_url_parts("?embed=1", link);
        assert!(notices.is_empty(), "{link}: {notices:?}");
        assert!(c.view.is_image() && c.embed, "{link}");
        let (back, notices) = PageConfig::from_url_parts("?embed=1", &c.to_fragment());
        assert!(notices.is_empty(), "{link}: {notices:?}");
        assert_eq!(back, c, "{link} → {}", c.to_fragment());
    }
    let (c, notices) = PageConfig::from_url_parts(
        "",
        "#view=gallery&model=../etc/passwd&temperature=5&to=12&score=best",
    );
    assert_eq!(c.view, View::Playground);
    assert_eq!(c.images, ImageViewConfig::default());
    assert_eq!(notices.len(), 5, "{notices:?}");
}

/// The inverse-problem and classification links round-trip; a bad problem, observation or
/// sample count falls back with a notice each.
#[test]
fn inverse_and_classify_links_round_trip() {
    for link in [
        "#view=inverse&problem=arm&y=0.5,1.5&samples=300",
        "#view=inverse&problem=ring&y=2.25",
        "#view=inverse&problem=linear-gaussian&y=-1,0.75&samples=1000",
        "#view=inverse&problem=linear-gaussian&y=1.5,-0.5&reweight=1",
        "#view=classify&model=mnist-glow-classifier",
        "#view=papers&energies=u2,u4&lengths=2,8&steps=300&seed=3",
        "#target=u2&flow=maf&objective=regression",
        "#target=moons&flow=cnf&objective=flow-matching-ot&layers=3&hidden=128",
        "#view=papers&figure=families&target=pinwheel&flows=nsf,cnf&steps=500",
    ] {
        let (c, notices) = PageConfig::from_url_parts("", link);
        assert!(notices.is_empty(), "{link}: {notices:?}");
        let (back, notices) = PageConfig::from_url_parts("", &c.to_fragment());
        assert!(notices.is_empty(), "{link}: {notices:?}");
        assert_eq!(back, c, "{link} → {}", c.to_fragment());
    }
    let (c, _) = PageConfig::from_url_parts("", "#view=classify");
    assert!(c.view.is_image());
    let (c, _) = PageConfig::from_url_parts("", "#view=inverse");
    assert!(!c.view.is_image() && c.view == View::Inverse);
    assert!(
        !c.to_fragment().contains("y="),
        "no observation until one is set"
    );
    let (c, notices) = PageConfig::from_url_parts(
        "",
        "#view=inverse&problem=pendulum&y=1,nan&samples=0&reweight=maybe",
    );
    assert_eq!(c.inverse, InverseConfig::default());
    assert_eq!(notices.len(), 4, "{notices:?}");
    let (c, _) = PageConfig::from_url_parts("", "#view=inverse&reweight=1");
    assert!(c.inverse.reweight && c.to_fragment().contains("reweight=1"));
}

/// The Papers view's rows and columns: energies in the figure's order, lengths sorted; a
/// repeated, unknown or out-of-range entry refuses the whole list with a notice.
#[test]
fn papers_links_pick_rows_and_columns() {
    let (c, notices) = PageConfig::from_url_parts("", "#view=papers&energies=u4,u1&lengths=32,4");
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(c.papers.energies, vec![Energy::U1, Energy::U4]);
    assert_eq!(c.papers.lengths, vec![4, 32]);
    assert!(
        c.to_fragment()
            .starts_with("view=papers&energies=u1,u4&lengths=4,32"),
        "{}",
        c.to_fragment()
    );
    for bad in [
        "energies=u1,u1",
        "energies=twomoons",
        "lengths=0",
        "lengths=65",
        "lengths=2,2",
        "lengths=1,2,3,4,5,6,7",
        "figure=banana",
        "flows=cnf,cnf",
        "flows=realnvp,glow",
    ] {
        let (c, notices) = PageConfig::from_url_parts("", &format!("#view=papers&{bad}"));
        assert_eq!(c.papers, PapersConfig::default(), "{bad}");
        assert_eq!(notices.len(), 1, "{bad}: {notices:?}");
    }
}

#[test]
fn draw_your_own_is_a_target() {
    let (c, notices) = PageConfig::from_url_parts("", "#target=draw&flow=maf");
    assert!(notices.is_empty());
    assert!(c.drawing);
    assert!(c.to_fragment().starts_with("target=draw&"));
}

#[test]
fn escapes_are_decoded() {
    assert_eq!(decode("a%3Db+c%2"), "a=b c%2");
}
