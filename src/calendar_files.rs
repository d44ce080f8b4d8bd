//! Calendar files: `{dir}/{name}.toml`, each holding `dates` (and optionally `description`
//! and `weekend`) as `PUT /calendars/{name}` takes them. At start-up, each calendar the
//! database does not have yet is written from its file; one it has stays as the API left it.

use std::path::Path;

use anyhow::Context;

/// The calendars of the `.toml` files in `dir`, by name (the file's stem), as JSON bodies.
/// No directory (or an empty setting): none.
pub fn read(dir: &str) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    if dir.is_empty() || !Path::new(dir).is_dir() {
        if !dir.is_empty() {
            tracing::debug!(dir, "no calendar directory");
        }
        return Ok(Vec::new());
    }
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the calendar directory {dir}"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = (path.file_stem())
                .and_then(|stem| stem.to_str())
                .unwrap_or_default()
                .to_string();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading calendar file {}", path.display()))?;
            let body: serde_json::Value = toml::from_str(&text)
                .with_context(|| format!("calendar file {} is not valid TOML", path.display()))?;
            Ok((name, body))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    #[test]
    fn the_shipped_krx_calendar_lists_weekdays_of_2025_to_2027() {
        let files = super::read(concat!(env!("CARGO_MANIFEST_DIR"), "/config/calendars")).unwrap();
        let (name, body) = (files.iter())
            .find(|(name, _)| name == "krx")
            .expect("krx.toml");
        let krx = actors::calendar::Calendar::from_body(name, body).unwrap();
        assert_eq!(krx.weekend, [5, 6].into(), "Saturday and Sunday");
        for year in 2025..=2027 {
            let days: Vec<_> = (krx.dates.iter()).filter(|d| d.year() == year).collect();
            assert!(days.len() >= 15, "{year}: {days:?}");
            assert!(
                days.iter().any(|d| (d.month(), d.day()) == (1, 1))
                    && days.iter().any(|d| (d.month(), d.day()) == (12, 31)),
                "{year}: New Year's Day and the year-end closing day"
            );
        }
        // Weekends are closed by `weekend`: a listed Saturday or Sunday is a typo.
        let weekend: Vec<_> = (krx.dates.iter())
            .filter(|d| d.weekday().number_from_monday() >= 6)
            .collect();
        assert!(weekend.is_empty(), "{weekend:?}");
        assert_eq!(krx.dates.len(), 51);
    }
}
