//! The shipped code sets and templates, built into the binary: a mapping
//! copied out of the repository (its `file = "../codesets/gender.toml"`
//! no longer beside it) or naming a code set only by name
//! (`codeset = "gender"`) still loads. A file beside the mapping wins.

/// Shipped code sets: (file stem, text).
pub const CODESETS: &[(&str, &str)] = &[
    (
        "address-type",
        include_str!("../../../mappings/codesets/address-type.toml"),
    ),
    (
        "case-note-type",
        include_str!("../../../mappings/codesets/case-note-type.toml"),
    ),
    (
        "cin-gender-current",
        include_str!("../../../mappings/codesets/cin-gender-current.toml"),
    ),
    (
        "cin-sex",
        include_str!("../../../mappings/codesets/cin-sex.toml"),
    ),
    (
        "ethnicity-cin",
        include_str!("../../../mappings/codesets/ethnicity-cin.toml"),
    ),
    (
        "gender",
        include_str!("../../../mappings/codesets/gender.toml"),
    ),
    (
        "is-child",
        include_str!("../../../mappings/codesets/is-child.toml"),
    ),
    (
        "note-status",
        include_str!("../../../mappings/codesets/note-status.toml"),
    ),
    (
        "relationship-type",
        include_str!("../../../mappings/codesets/relationship-type.toml"),
    ),
    (
        "ssda903-cin",
        include_str!("../../../mappings/codesets/ssda903-cin.toml"),
    ),
    (
        "ssda903-ls",
        include_str!("../../../mappings/codesets/ssda903-ls.toml"),
    ),
    (
        "ssda903-mother",
        include_str!("../../../mappings/codesets/ssda903-mother.toml"),
    ),
    (
        "ssda903-place-provider",
        include_str!("../../../mappings/codesets/ssda903-place-provider.toml"),
    ),
    (
        "ssda903-place",
        include_str!("../../../mappings/codesets/ssda903-place.toml"),
    ),
    (
        "ssda903-reason-place-change",
        include_str!("../../../mappings/codesets/ssda903-reason-place-change.toml"),
    ),
    (
        "ssda903-rec",
        include_str!("../../../mappings/codesets/ssda903-rec.toml"),
    ),
    (
        "ssda903-rne",
        include_str!("../../../mappings/codesets/ssda903-rne.toml"),
    ),
    (
        "ssda903-sex",
        include_str!("../../../mappings/codesets/ssda903-sex.toml"),
    ),
    (
        "workflow-step-type",
        include_str!("../../../mappings/codesets/workflow-step-type.toml"),
    ),
    (
        "yes-no",
        include_str!("../../../mappings/codesets/yes-no.toml"),
    ),
];

/// Shipped workbook templates: (file stem, text).
pub const TEMPLATES: &[(&str, &str)] = &[(
    "fs-workbook-v1",
    include_str!("../../../mappings/templates/fs-workbook-v1.toml"),
)];

/// The text of a shipped code set by file stem (`gender`, `cin-sex`) or a
/// file name or path ending in one (`../codesets/gender.toml`).
pub fn codeset(name: &str) -> Option<(&'static str, &'static str)> {
    find(CODESETS, name)
}

/// The text of a shipped template, found as [`codeset`] finds code sets.
pub fn template(name: &str) -> Option<(&'static str, &'static str)> {
    find(TEMPLATES, name)
}

fn find(
    list: &'static [(&'static str, &'static str)],
    name: &str,
) -> Option<(&'static str, &'static str)> {
    let stem = std::path::Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let stem = stem.replace('_', "-");
    list.iter().copied().find(|(s, _)| *s == stem)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_code_set_and_template_parses() {
        for (name, text) in super::CODESETS {
            let p = std::path::Path::new(name);
            assert!(crate::CodeSet::from_str(p, text).is_ok(), "{name}");
        }
        for (name, text) in super::TEMPLATES {
            let p = std::path::Path::new(name);
            assert!(crate::Template::from_str(p, text).is_ok(), "{name}");
        }
        assert!(super::codeset("../codesets/gender.toml").is_some());
        assert!(super::codeset("yes_no").is_some());
        assert!(super::codeset("nonesuch").is_none());
    }
}
