//! Label-map PNG import/export: round trips, format detection and the errors a user sees.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use scenepaint::labelmap::{
    read_label_map, read_label_map_with, write_colour_png, write_index_png, LabelMap, PngKind,
    UnknownColour,
};
use scenepaint::labels::Palette;
use std::path::Path;

/// A non-square map that uses every class of the palette in a pattern.
fn pattern(palette: &Palette, width: u32, height: u32) -> LabelMap {
    let ids: Vec<u16> = (0..width * height)
        .map(|i| {
            palette.classes[(i as usize * 7 + (i / width) as usize) % palette.classes.len()].id
        })
        .collect();
    LabelMap::from_ids(width, height, ids).unwrap()
}

fn shared_dir() -> std::path::PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").to_string());
    let dir = Path::new(&dir).to_path_buf();
    assert!(
        dir.is_dir(),
        "shared data folder {} is missing",
        dir.display()
    );
    dir
}

#[test]
fn index_png_round_trip_8_bit_non_square() {
    let palette = Palette::builtin("cityscapes").unwrap();
    let map = pattern(&palette, 37, 11);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.png");
    write_index_png(&path, &map).unwrap();
    let img = image::open(&path).unwrap();
    assert_eq!(img.color(), image::ColorType::L8);
    let (back, kind) = read_label_map_with(&path, &palette, UnknownColour::Error).unwrap();
    assert_eq!(kind, PngKind::Index);
    assert_eq!(back, map);
}

#[test]
fn index_png_round_trip_16_bit_when_ids_exceed_255() {
    let classes = (0..3)
        .map(|k| scenepaint::labels::ClassInfo {
            id: [0, 300, 1000][k],
            name: format!("c{k}"),
            rgb: [k as u8 * 80, 0, 0],
            group: None,
        })
        .collect();
    let palette = Palette::new("wide", classes, 0).unwrap();
    let map = pattern(&palette, 5, 23);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index16.png");
    write_index_png(&path, &map).unwrap();
    assert_eq!(image::open(&path).unwrap().color(), image::ColorType::L16);
    assert_eq!(read_label_map(&path, &palette).unwrap(), map);
}

#[test]
fn colour_png_round_trip_non_square() {
    let palette = Palette::builtin("ade20k").unwrap();
    // Skip skyscraper: the official ADE20K colours give it the same colour as road.
    let mut map = pattern(&palette, 64, 17);
    let road = palette.id_for_name("road").unwrap();
    let skyscraper = palette.id_for_name("skyscraper").unwrap();
    map.ids
        .iter_mut()
        .filter(|id| **id == skyscraper)
        .for_each(|id| *id = road);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("colour.png");
    write_colour_png(&path, &map, &palette).unwrap();
    let rgb = image::open(&path).unwrap().to_rgb8();
    assert_eq!(rgb.get_pixel(0, 0).0, palette.rgb(map.get(0, 0)));
    let (back, kind) = read_label_map_with(&path, &palette, UnknownColour::Error).unwrap();
    assert_eq!(kind, PngKind::Colour);
    assert_eq!(back, map);
}

#[test]
fn unknown_colours_are_listed_with_pixel_counts() {
    let palette = Palette::builtin("ycor").unwrap();
    let mut img = image::RgbImage::from_pixel(9, 4, image::Rgb([1, 88, 255])); // sky
    for x in 0..3 {
        img.put_pixel(x, 0, image::Rgb([10, 20, 30]));
    }
    img.put_pixel(8, 3, image::Rgb([250, 0, 1])); // close to obstacle (255,0,0)
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd colours.png");
    img.save(&path).unwrap();
    let err = read_label_map(&path, &palette).unwrap_err().to_string();
    assert!(err.contains("odd colours.png"), "{err}");
    assert!(err.contains("(10,20,30) x 3 px"), "{err}");
    assert!(err.contains("(250,0,1) x 1 px"), "{err}");
    assert!(
        err.contains("nearest class") && err.contains("--nearest"),
        "{err}"
    );
    assert!(
        !err.contains("JPEG"),
        "a PNG is not blamed on compression: {err}"
    );
    // The same colours as a JPEG: the message says what altered them.
    let jpeg = dir.path().join("painted.jpg");
    img.save(&jpeg).unwrap();
    let err = read_label_map(&jpeg, &palette).unwrap_err().to_string();
    assert!(
        err.contains("It is a JPEG") && err.contains("--nearest"),
        "{err}"
    );

    let (map, _) = read_label_map_with(&path, &palette, UnknownColour::MapToNearest).unwrap();
    assert_eq!(map.get(8, 3), palette.id_for_name("obstacle").unwrap());
    assert_eq!(map.get(4, 2), palette.id_for_name("sky").unwrap());
    assert_eq!(map.get(0, 0), palette.nearest_id([10, 20, 30]));
}

#[test]
fn ids_outside_palette_are_an_error() {
    let palette = Palette::builtin("ycor").unwrap();
    let mut img = image::GrayImage::from_pixel(6, 3, image::Luma([2]));
    img.put_pixel(0, 0, image::Luma([9]));
    img.put_pixel(1, 0, image::Luma([200]));
    img.put_pixel(2, 0, image::Luma([200]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.png");
    img.save(&path).unwrap();
    let err = read_label_map(&path, &palette).unwrap_err().to_string();
    assert!(err.contains("ids.png"), "{err}");
    assert!(
        err.contains("id 9 x 1 px") && err.contains("id 200 x 2 px"),
        "{err}"
    );
}

/// A map of ycor ids read with the default palette names the built-in palettes that fit it.
#[test]
fn ids_outside_the_palette_name_the_palettes_that_fit() {
    let landscape = Palette::builtin("landscape").unwrap();
    let ycor = Palette::builtin("ycor").unwrap();
    let mut img = image::GrayImage::from_pixel(4, 2, image::Luma([0]));
    for (x, id) in [(1, 2), (2, 7), (3, 8)] {
        img.put_pixel(x, 1, image::Luma([id]));
    }
    assert!([0, 2, 7, 8].iter().any(|&id| !landscape.contains(id)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.png");
    img.save(&path).unwrap();
    let err = read_label_map(&path, &landscape).unwrap_err().to_string();
    let hint = err
        .split("Built-in palettes with all of this map's ids: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no hint: {err}"));
    assert!(
        hint.contains("ycor") && !hint.contains("landscape"),
        "{err}"
    );
    assert!(read_label_map(&path, &ycor).is_ok());
}

/// Writes a palette-mode PNG with the given bit depth (the form YCOR labels use).
fn write_palette_png(
    path: &Path,
    w: u32,
    h: u32,
    indices: &[u8],
    plte: &[u8],
    depth: png::BitDepth,
) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(depth);
    enc.set_palette(plte.to_vec());
    let bits = depth as usize;
    let per_byte = 8 / bits;
    let stride = (w as usize).div_ceil(per_byte);
    let mut data = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let v = indices[y * w as usize + x];
            data[y * stride + x / per_byte] |= v << (8 - bits * (x % per_byte + 1));
        }
    }
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

#[test]
fn palette_png_gives_raw_indices_not_colours() {
    let palette = Palette::builtin("ycor").unwrap();
    // A palette whose colours deliberately differ from ycor's: raw indices must win.
    let plte: Vec<u8> = (0..16u8).flat_map(|i| [i, i, i]).collect();
    let indices: Vec<u8> = (0..7 * 3).map(|i| (i % 9) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    for depth in [png::BitDepth::Four, png::BitDepth::Eight] {
        let path = dir.path().join(format!("p{}.png", depth as u8));
        write_palette_png(&path, 7, 3, &indices, &plte, depth);
        let (map, kind) = read_label_map_with(&path, &palette, UnknownColour::Error).unwrap();
        assert_eq!(kind, PngKind::Index);
        let expect: Vec<u16> = indices.iter().map(|&i| u16::from(i)).collect();
        assert_eq!(map.ids, expect);
        assert_eq!((map.width, map.height), (7, 3));
    }
}

#[test]
fn palette_png_of_colours_falls_back_to_colours() {
    // An editor saved a cityscapes colour map in palette mode: index 0 = sky, 1 = car.
    let palette = Palette::builtin("cityscapes").unwrap();
    let plte = [70, 130, 180, 0, 0, 142];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.png");
    // Index 1 is a valid cityscapes id, but 40 is not, so indices cannot be ids.
    let mut plte_big = plte.to_vec();
    plte_big.resize(41 * 3, 0);
    plte_big[40 * 3..].copy_from_slice(&[0, 0, 142]);
    write_palette_png(&path, 3, 1, &[0, 40, 0], &plte_big, png::BitDepth::Eight);
    let (map, kind) = read_label_map_with(&path, &palette, UnknownColour::Error).unwrap();
    assert_eq!(kind, PngKind::Colour);
    assert_eq!(map.ids, vec![23, 26, 23]);
}

#[test]
fn real_ycor_label_reads_as_ids() {
    let path = shared_dir().join("datasets/ycor/train/labels/iid000000.png");
    let palette = Palette::builtin("ycor").unwrap();
    let (map, kind) = read_label_map_with(&path, &palette, UnknownColour::Error).unwrap();
    assert_eq!(kind, PngKind::Index);
    assert_eq!((map.width, map.height), (1024, 544));
    // The colour rendering of the raw ids must equal the PNG's own palette rendering.
    let rgb = image::open(&path).unwrap().to_rgb8();
    for (i, p) in rgb.pixels().enumerate().step_by(997) {
        assert_eq!(palette.rgb(map.ids[i]), p.0, "pixel {i}");
    }
    assert!(map.histogram().len() >= 3, "{:?}", map.histogram());
}

/// A few hundred bytes claiming 100000x100000 pixels (`scripts/make_bomb_fixtures.py`).
fn bomb(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bombs")
        .join(name)
}

#[test]
fn a_label_map_claiming_a_huge_size_is_refused_before_decoding() {
    let palette = Palette::builtin("ycor").unwrap();
    for name in ["gray-100000x100000.png", "rgb-100000x100000.png"] {
        let err = read_label_map(bomb(name), &palette)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains("100000x100000") && err.contains("4096"),
            "{err}"
        );
    }
}
