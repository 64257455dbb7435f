//! Property tests of name parsing and the name <-> folder mapping.

use std::path::{Component, Path};

use ollmlx_store::ModelName;
use proptest::prelude::*;

fn part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_-]{0,20}(\\.[A-Za-z0-9_-]{1,8}){0,2}"
}

proptest! {
    #[test]
    fn display_parse_and_folder_round_trip(org in part(), model in part(), tag in part()) {
        let name = ModelName::from_parts(&org, &model, &tag).unwrap();
        let shown = name.to_string();
        let again = ModelName::parse(&shown).unwrap();
        prop_assert_eq!(&again, &name);
        prop_assert_eq!(ModelName::parse(&format!("hf.co/{shown}")).unwrap(), name.clone());
        let dir = name.relative_dir();
        let parts: Vec<String> = dir.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        prop_assert_eq!(parts.len(), 2);
        prop_assert_eq!(ModelName::from_folder(&parts[0], &parts[1]).unwrap(), name.clone());
        let upper = ModelName::parse(&shown.to_uppercase()).unwrap();
        prop_assert!(upper.same_as(&name));
    }

    #[test]
    fn no_input_escapes_the_store(input in "\\PC{0,40}|[./a-z\\\\:\\x00-]{0,20}") {
        if let Ok(name) = ModelName::parse(&input) {
            let dir = name.relative_dir();
            prop_assert!(dir.components().all(|c| matches!(c, Component::Normal(_))), "{:?}", dir);
            prop_assert_eq!(dir.components().count(), 2);
            let root = Path::new("/store");
            prop_assert!(root.join(&dir).starts_with(root));
            let s = dir.to_string_lossy();
            prop_assert!(!s.contains('\0') && !s.contains("..") && !s.contains('\\'));
        }
    }

    #[test]
    fn latest_is_implied(org in part(), model in part()) {
        let a = ModelName::parse(&format!("{org}/{model}")).unwrap();
        let b = ModelName::parse(&format!("{org}/{model}:latest")).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.revision(), "main");
        prop_assert_eq!(a.relative_dir(), Path::new(&org).join(&model));
    }
}

#[test]
fn over_long_and_empty_parts_are_rejected_with_clear_errors() {
    let long = "a".repeat(97);
    let err = ModelName::parse(&format!("org/{long}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 96"), "{err}");
    let err = ModelName::parse("/x").unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = ModelName::parse("org/../x").unwrap_err().to_string();
    assert!(err.contains("invalid model name"), "{err}");
    let err = ModelName::parse("org/a\0b").unwrap_err().to_string();
    assert!(err.contains("\\0"), "{err}");
}
