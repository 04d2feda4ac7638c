//! Workbook templates as data: forms, sections, questions, answer types,
//! allowed values and ranges, loaded from TOML so a council can change its
//! workbook without a rebuild.
//!
//! Question codes are unique across a whole template: EAV exports such as
//! Mosaic's `DM_CACHED_FORM_ANSWERS` name the question, not the form, so the
//! code alone must find it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{toml_error, Diagnostic, LineIndex};
use crate::Error;

/// The type of a workbook answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// Free text.
    Text,
    /// A date.
    Date,
    /// A date and time.
    Datetime,
    /// One value of the question's `values`.
    Code,
    /// Several values of the question's `values`, separated by `;` or `,`.
    MultiCode,
    /// A whole-number score between `min` and `max`.
    Score,
    /// A whole number, optionally within `min`..=`max`.
    Integer,
    /// A number, optionally within `min`..=`max`.
    Decimal,
    /// Yes or no (`Y`, `N`, `Yes`, `No`, `true`, `false`, `1`, `0`).
    Boolean,
}

impl AnswerType {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerType::Text => "text",
            AnswerType::Date => "date",
            AnswerType::Datetime => "datetime",
            AnswerType::Code => "code",
            AnswerType::MultiCode => "multi_code",
            AnswerType::Score => "score",
            AnswerType::Integer => "integer",
            AnswerType::Decimal => "decimal",
            AnswerType::Boolean => "boolean",
        }
    }

    /// Whether the answer is numeric (held in an export's number column).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            AnswerType::Score | AnswerType::Integer | AnswerType::Decimal
        )
    }

    /// Whether the answer is a date (held in an export's date column).
    pub fn is_date(self) -> bool {
        matches!(self, AnswerType::Date | AnswerType::Datetime)
    }
}

/// A question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Code as exports name it (`QUESTION_USER_CODE` in Mosaic).
    pub code: Spanned<String>,
    /// Text shown to workers.
    pub label: String,
    /// Answer type.
    #[serde(rename = "type")]
    pub ty: AnswerType,
    /// Whether a completed form must answer it.
    #[serde(default)]
    pub required: bool,
    /// Allowed values for `code` and `multi_code` answers.
    #[serde(default)]
    pub values: Vec<String>,
    /// Lowest allowed number or score.
    pub min: Option<f64>,
    /// Highest allowed number or score.
    pub max: Option<f64>,
    /// Notes for template authors.
    #[serde(default)]
    pub help: Option<String>,
}

impl Question {
    /// The question code.
    pub fn code(&self) -> &str {
        self.code.get_ref()
    }
}

/// A section of a form: plain, or a repeating table whose rows share a row id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionDef {
    /// Section code.
    pub code: String,
    /// Title.
    pub title: String,
    /// Whether the section is a repeating table (several goals, attendees...).
    #[serde(default)]
    pub repeating: bool,
    /// Questions in order.
    pub questions: Vec<Question>,
}

/// A form of the workbook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    /// Form code, e.g. `gcp2`.
    pub code: Spanned<String>,
    /// Title.
    pub title: String,
    /// What the form records.
    #[serde(default)]
    pub description: Option<String>,
    /// Sections in order.
    pub sections: Vec<SectionDef>,
}

impl FormDef {
    /// The form code.
    pub fn code(&self) -> &str {
        self.code.get_ref()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    id: String,
    version: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    template: Meta,
    forms: Vec<FormDef>,
}

/// Where a question sits in its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestionRef {
    /// Index in [`Template::forms`].
    pub form: usize,
    /// Index in the form's sections.
    pub section: usize,
    /// Index in the section's questions.
    pub question: usize,
}

/// A loaded and checked workbook template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Template id, e.g. `fs-workbook`.
    pub id: String,
    /// Version.
    pub version: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Forms in order.
    pub forms: Vec<FormDef>,
    /// The file it was loaded from.
    pub path: PathBuf,
    index: HashMap<String, QuestionRef>,
}

impl Template {
    /// Loads and checks a template file.
    pub fn from_path(path: &Path) -> Result<Template, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Template::from_str(path, &text).map_err(Error::Invalid)
    }

    /// Parses and checks template text; `path` names it in diagnostics.
    pub fn from_str(path: &Path, text: &str) -> Result<Template, Vec<Diagnostic>> {
        let secrets = crate::diag::check_no_secrets(path, text);
        if !secrets.is_empty() {
            return Err(secrets);
        }
        let file: TemplateFile =
            toml::from_str(text).map_err(|e| vec![toml_error(path, text, &e)])?;
        let lines = LineIndex::new(text);
        let mut diags = Vec::new();
        let mut index = HashMap::new();
        let mut form_codes = BTreeSet::new();
        for (fi, form) in file.forms.iter().enumerate() {
            if !form_codes.insert(form.code().to_string()) {
                diags.push(Diagnostic::new(
                    path,
                    Some(lines.line(form.code.span().start)),
                    format!("form code `{}` is used twice", form.code()),
                ));
            }
            for (si, section) in form.sections.iter().enumerate() {
                for (qi, q) in section.questions.iter().enumerate() {
                    let line = Some(lines.line(q.code.span().start));
                    let at = QuestionRef {
                        form: fi,
                        section: si,
                        question: qi,
                    };
                    if index.insert(q.code().to_string(), at).is_some() {
                        diags.push(Diagnostic::new(
                            path,
                            line,
                            format!("question code `{}` is used twice", q.code()),
                        ));
                    }
                    check_question(path, line, q, &mut diags);
                }
            }
        }
        if diags.is_empty() {
            Ok(Template {
                id: file.template.id,
                version: file.template.version,
                title: file.template.title,
                description: file.template.description,
                forms: file.forms,
                path: path.to_path_buf(),
                index,
            })
        } else {
            Err(diags)
        }
    }

    /// The question with this code.
    pub fn question(&self, code: &str) -> Option<(QuestionRef, &Question)> {
        let at = *self.index.get(code)?;
        let q = &self.forms[at.form].sections[at.section].questions[at.question];
        Some((at, q))
    }

    /// The form a question belongs to.
    pub fn form(&self, at: QuestionRef) -> &FormDef {
        &self.forms[at.form]
    }

    /// The section a question belongs to.
    pub fn section(&self, at: QuestionRef) -> &SectionDef {
        &self.forms[at.form].sections[at.section]
    }

    /// Every question code (for suggestions).
    pub fn question_codes(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// The form with this code.
    pub fn form_by_code(&self, code: &str) -> Option<&FormDef> {
        self.forms.iter().find(|f| f.code() == code)
    }
}

fn check_question(path: &Path, line: Option<usize>, q: &Question, diags: &mut Vec<Diagnostic>) {
    let code = q.code();
    let mut bad = |m: String| diags.push(Diagnostic::new(path, line, m));
    match q.ty {
        AnswerType::Code | AnswerType::MultiCode if q.values.is_empty() => {
            bad(format!(
                "question `{code}` is {} but lists no values",
                q.ty.as_str()
            ));
        }
        AnswerType::Score if q.min.is_none() || q.max.is_none() => {
            bad(format!(
                "question `{code}` is a score but has no min and max"
            ));
        }
        _ => {}
    }
    if !matches!(q.ty, AnswerType::Code | AnswerType::MultiCode) && !q.values.is_empty() {
        bad(format!(
            "question `{code}` lists values but is {}",
            q.ty.as_str()
        ));
    }
    if let (Some(min), Some(max)) = (q.min, q.max) {
        if min > max {
            bad(format!("question `{code}` has min {min} above max {max}"));
        }
    }
    if (q.min.is_some() || q.max.is_some()) && !q.ty.is_numeric() {
        bad(format!(
            "question `{code}` has a range but is {}",
            q.ty.as_str()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[template]
id = "t"
version = "1"
title = "T"

[[forms]]
code = "gcp2"
title = "Graded Care Profile 2"

[[forms.sections]]
code = "scores"
title = "Scores"

[[forms.sections.questions]]
code = "GCP2_PHYSICAL"
label = "Physical care"
type = "score"
min = 1
max = 5

[[forms.sections.questions]]
code = "GCP2_SAFETY"
label = "Care of safety"
type = "score"
min = 1
max = 5
"#;

    #[test]
    fn loads_and_finds_questions_by_code() {
        let t = Template::from_str(Path::new("t.toml"), SMALL).unwrap();
        let (at, q) = t.question("GCP2_SAFETY").unwrap();
        assert_eq!(q.ty, AnswerType::Score);
        assert_eq!(t.form(at).code(), "gcp2");
        assert!(t.question("NOPE").is_none());
    }

    #[test]
    fn duplicate_question_code_is_reported_with_its_line() {
        let text = SMALL.replace("GCP2_SAFETY", "GCP2_PHYSICAL");
        let diags = Template::from_str(Path::new("t.toml"), &text).unwrap_err();
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, Some(23));
        assert!(diags[0].message.contains("used twice"));
    }

    #[test]
    fn score_without_range_and_inverted_range_are_rejected() {
        let text = SMALL
            .replacen("min = 1\nmax = 5", "", 1)
            .replacen("min = 1", "min = 9", 1);
        let diags = Template::from_str(Path::new("t.toml"), &text).unwrap_err();
        assert_eq!(diags.len(), 2, "{diags:?}");
    }

    #[test]
    fn unknown_key_is_a_parse_error_with_a_line() {
        let text = SMALL.replace("label = \"Care of safety\"", "lable = \"Care of safety\"");
        let diags = Template::from_str(Path::new("t.toml"), &text).unwrap_err();
        assert_eq!(diags[0].line, Some(24));
    }
}
