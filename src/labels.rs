//! Palettes: class id <-> name <-> colour, loaded from `assets/palettes/*.json`.
//!
//! A palette is the contract between a painting and a model: `id` is the value a dataset stores in
//! its label PNGs (and a model's one-hot channel), `rgb` is only how the painter shows it. The
//! shipped palettes follow their datasets' published tables (see each file's `description`).
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One class of a palette.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassInfo {
    /// The value stored in label maps for this class.
    pub id: u16,
    pub name: String,
    pub rgb: [u8; 3],
    /// Optional group name (e.g. a dataset's supercategory), used to fold the palette panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A named list of classes plus the background class (what the eraser paints).
/// Deserialising validates it (unique ids, background present) and builds the lookups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "PaletteFile")]
pub struct Palette {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub classes: Vec<ClassInfo>,
    pub background: u16,
    #[serde(skip)]
    index: PaletteIndex,
}

/// The JSON form of a palette, before validation.
#[derive(Deserialize)]
struct PaletteFile {
    name: String,
    #[serde(default)]
    description: String,
    classes: Vec<ClassInfo>,
    background: u16,
}

impl TryFrom<PaletteFile> for Palette {
    type Error = Error;
    fn try_from(file: PaletteFile) -> Result<Self> {
        let mut palette = Palette::new(&file.name, file.classes, file.background)?;
        palette.description = file.description;
        Ok(palette)
    }
}

/// Lookup tables rebuilt after loading; not serialised.
#[derive(Debug, Clone, Default)]
struct PaletteIndex {
    by_id: HashMap<u16, usize>,
    /// Colour -> first class with that colour (some official palettes repeat colours).
    by_rgb: HashMap<[u8; 3], usize>,
    by_name: HashMap<String, usize>,
}

impl PartialEq for Palette {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.classes == other.classes
            && self.background == other.background
    }
}

/// The shipped palettes, embedded so the binary works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    (
        "landscape",
        include_str!("../assets/palettes/landscape.json"),
    ),
    ("ycor", include_str!("../assets/palettes/ycor.json")),
    (
        "coco-stuff",
        include_str!("../assets/palettes/coco-stuff.json"),
    ),
    ("ade20k", include_str!("../assets/palettes/ade20k.json")),
    (
        "cityscapes",
        include_str!("../assets/palettes/cityscapes.json"),
    ),
];

impl Palette {
    /// Builds a palette from classes, checking ids are unique and the background exists.
    pub fn new(name: &str, classes: Vec<ClassInfo>, background: u16) -> Result<Self> {
        let mut palette = Palette {
            name: name.to_string(),
            description: String::new(),
            classes,
            background,
            index: PaletteIndex::default(),
        };
        palette.rebuild_index(name)?;
        Ok(palette)
    }

    /// Loads a palette JSON file (same format as `assets/palettes/*.json`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses palette JSON; `origin` names the source in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Json {
            path: origin.into(),
            message: e.to_string(),
        })
    }

    /// One of the shipped palettes by name (see [`Palette::builtin_names`]).
    pub fn builtin(name: &str) -> Result<Self> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            Error::msg(format!(
                "unknown palette '{name}'; built-in palettes are: {}",
                Self::builtin_names().join(", ")
            ))
        })?;
        Self::from_json(text, &format!("assets/palettes/{name}.json"))
    }

    /// Names of the shipped palettes, the default (`landscape`) first.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    fn rebuild_index(&mut self, origin: &str) -> Result<()> {
        let mut index = PaletteIndex::default();
        for (i, class) in self.classes.iter().enumerate() {
            if index.by_id.insert(class.id, i).is_some() {
                return Err(Error::msg(format!(
                    "palette '{origin}': class id {} appears more than once",
                    class.id
                )));
            }
            index.by_rgb.entry(class.rgb).or_insert(i);
            index.by_name.entry(class.name.to_lowercase()).or_insert(i);
        }
        if !index.by_id.contains_key(&self.background) {
            return Err(Error::msg(format!(
                "palette '{origin}': background id {} is not one of the {} classes",
                self.background,
                self.classes.len()
            )));
        }
        self.index = index;
        Ok(())
    }

    /// The class with this id, if any.
    /// Whether a painting in this palette's ids means the same classes in `other` (names and
    /// descriptions aside).
    pub fn same_classes(&self, other: &Palette) -> bool {
        self.classes == other.classes && self.background == other.background
    }

    pub fn class(&self, id: u16) -> Option<&ClassInfo> {
        self.index.by_id.get(&id).map(|&i| &self.classes[i])
    }

    /// Position of the class in `classes` (the panel order).
    pub fn position(&self, id: u16) -> Option<usize> {
        self.index.by_id.get(&id).copied()
    }

    pub fn contains(&self, id: u16) -> bool {
        self.index.by_id.contains_key(&id)
    }

    /// Id of the (first) class drawn with this colour.
    pub fn id_for_rgb(&self, rgb: [u8; 3]) -> Option<u16> {
        self.index.by_rgb.get(&rgb).map(|&i| self.classes[i].id)
    }

    /// Id of the class with this name (case-insensitive).
    pub fn id_for_name(&self, name: &str) -> Option<u16> {
        self.index
            .by_name
            .get(&name.to_lowercase())
            .map(|&i| self.classes[i].id)
    }

    /// Display colour of an id; ids outside the palette show as magenta so they stand out.
    pub fn rgb(&self, id: u16) -> [u8; 3] {
        self.class(id).map_or([255, 0, 255], |c| c.rgb)
    }

    /// The class whose colour is closest (squared RGB distance) to `rgb`.
    pub fn nearest_id(&self, rgb: [u8; 3]) -> u16 {
        let dist = |c: &ClassInfo| {
            (0..3)
                .map(|k| (i32::from(c.rgb[k]) - i32::from(rgb[k])).pow(2))
                .sum::<i32>()
        };
        self.classes
            .iter()
            .min_by_key(|c| dist(c))
            .map_or(self.background, |c| c.id)
    }

    /// Largest id in the palette (sizes a model's one-hot input).
    pub fn max_id(&self) -> u16 {
        self.classes.iter().map(|c| c.id).max().unwrap_or(0)
    }

    /// A lookup table id -> colour for all 65536 ids (fast per-pixel colouring).
    pub fn colour_lut(&self) -> Vec<[u8; 3]> {
        let mut lut = vec![[255, 0, 255]; 1 << 16];
        for class in &self.classes {
            lut[usize::from(class.id)] = class.rgb;
        }
        lut
    }

    /// Indices into `classes` whose name or group contains `query` (case-insensitive).
    pub fn search(&self, query: &str) -> Vec<usize> {
        let q = query.trim().to_lowercase();
        self.classes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                q.is_empty()
                    || c.name.to_lowercase().contains(&q)
                    || c.group
                        .as_deref()
                        .is_some_and(|g| g.to_lowercase().contains(&q))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Class ids of one palette to the ids of the same class names in another: how a painting
/// (and its undo history) moves to a new palette on a palette switch or a model load, never by
/// raw id. A class the new palette lacks becomes its background.
#[derive(Debug, Clone)]
pub struct ClassMapping {
    by_id: HashMap<u16, u16>,
    fallback: u16,
}

impl ClassMapping {
    pub fn by_name(from: &Palette, to: &Palette) -> Self {
        let by_id = from
            .classes
            .iter()
            .filter_map(|class| Some((class.id, to.id_for_name(&class.name)?)))
            .collect();
        ClassMapping {
            by_id,
            fallback: to.background,
        }
    }

    pub fn map(&self, id: u16) -> u16 {
        self.by_id.get(&id).copied().unwrap_or(self.fallback)
    }

    /// Names of the classes among `painted` (ids of `from`) that have no counterpart, in id
    /// order; an id `from` does not know reads "id N".
    pub fn missing(&self, from: &Palette, painted: impl IntoIterator<Item = u16>) -> Vec<String> {
        let mut ids: Vec<u16> = painted
            .into_iter()
            .filter(|id| !self.by_id.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .map(|&id| {
                from.class(id)
                    .map_or_else(|| format!("id {id}"), |c| c.name.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads() {
        for name in Palette::builtin_names() {
            let p = Palette::builtin(name).unwrap();
            assert_eq!(p.name, name);
            assert!(p.contains(p.background), "{name}");
        }
    }

    #[test]
    fn builtin_tables_match_their_datasets() {
        let ycor = Palette::builtin("ycor").unwrap();
        assert_eq!(ycor.classes.len(), 9);
        assert_eq!(ycor.background, 0);
        assert_eq!(ycor.class(0).unwrap().name, "unknown (void)");
        assert_eq!(ycor.id_for_rgb([1, 88, 255]), Some(8));
        assert_eq!(ycor.id_for_name("Rough Trail"), Some(3));

        let city = Palette::builtin("cityscapes").unwrap();
        assert_eq!(city.classes.len(), 34);
        assert_eq!(city.id_for_name("sky"), Some(23));
        assert_eq!(city.rgb(7), [128, 64, 128]);
        assert_eq!(
            city.id_for_rgb([0, 0, 0]),
            Some(0),
            "shared void colour maps to lowest id"
        );

        let ade = Palette::builtin("ade20k").unwrap();
        assert_eq!(ade.classes.len(), 151);
        assert_eq!((ade.background, ade.max_id()), (0, 150));
        assert_eq!(ade.class(150).unwrap().name, "flag");
        assert_eq!(ade.rgb(3), [6, 230, 230]);

        let coco = Palette::builtin("coco-stuff").unwrap();
        assert_eq!(coco.classes.len(), 183);
        assert_eq!(coco.background, 255);
        assert_eq!(coco.class(0).unwrap().name, "person");
        assert_eq!(coco.class(181).unwrap().name, "wood");
        assert_eq!(coco.id_for_name("sky-other"), Some(156));

        let land = Palette::builtin("landscape").unwrap();
        for class in &land.classes {
            if class.id != land.background {
                assert!(
                    coco.contains(class.id),
                    "landscape {} -> {}",
                    class.name,
                    class.id
                );
            }
        }
        assert_eq!(land.id_for_name("sky"), coco.id_for_name("sky-other"));
        assert_eq!(land.id_for_name("grass"), coco.id_for_name("grass"));
    }

    #[test]
    fn search_matches_names_and_groups() {
        let coco = Palette::builtin("coco-stuff").unwrap();
        let hits: Vec<&str> = coco
            .search("wall-")
            .iter()
            .map(|&i| coco.classes[i].name.as_str())
            .collect();
        assert_eq!(hits.len(), 7, "{hits:?}");
        assert!(coco.search("vehicle").len() >= 8);
        assert_eq!(coco.search("").len(), coco.classes.len());
    }

    #[test]
    fn unknown_builtin_lists_names() {
        let err = Palette::builtin("nope").unwrap_err().to_string();
        assert!(err.contains("ycor") && err.contains("cityscapes"), "{err}");
    }

    #[test]
    fn duplicate_ids_rejected() {
        let c = |id| ClassInfo {
            id,
            name: format!("c{id}"),
            rgb: [id as u8, 0, 0],
            group: None,
        };
        let err = Palette::new("t", vec![c(1), c(1)], 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class id 1"), "{err}");
        let err = Palette::new("t", vec![c(1)], 2).unwrap_err().to_string();
        assert!(err.contains("background id 2"), "{err}");
        let json = r#"{"name":"x","background":5,"classes":[{"id":5,"name":"a","rgb":[1,2,3]},{"id":5,"name":"b","rgb":[1,2,4]}]}"#;
        let err = Palette::from_json(json, "my.json").unwrap_err().to_string();
        assert!(
            err.contains("my.json") && err.contains("class id 5"),
            "{err}"
        );
    }

    #[test]
    fn class_mapping_matches_names_and_reports_the_rest() {
        let ycor = Palette::builtin("ycor").unwrap();
        let landscape = Palette::builtin("landscape").unwrap();
        let sky = ycor.id_for_name("sky").unwrap();
        let orphan = ycor
            .classes
            .iter()
            .find(|c| landscape.id_for_name(&c.name).is_none())
            .expect("ycor has a class landscape lacks");
        let mapping = ClassMapping::by_name(&ycor, &landscape);
        assert_eq!(mapping.map(sky), landscape.id_for_name("sky").unwrap());
        assert_eq!(mapping.map(orphan.id), landscape.background);
        assert_eq!(mapping.map(999), landscape.background);
        let missing = mapping.missing(&ycor, [sky, orphan.id, orphan.id, 999]);
        assert_eq!(missing, vec![orphan.name.clone(), "id 999".to_string()]);
    }
}
