//! The image formats the program reads, named once: the files a dataset scan, an evaluation
//! folder and the style-photo dialog accept are exactly those the `image` crate is built to
//! decode (Cargo.toml's `image` features). A name the list accepts but the build cannot decode
//! would be found and then fail as "not supported".
use std::path::Path;

/// Extensions (lower case) of the photos and label maps the program decodes.
pub const READABLE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

/// The readable formats for messages: "PNG, JPEG, BMP or WebP".
pub const READABLE_NAMES: &str = "PNG, JPEG, BMP or WebP";

fn extension_lowercase(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Whether `path`'s extension names a format the program decodes.
pub fn is_readable_image(path: &Path) -> bool {
    extension_lowercase(path).is_some_and(|e| READABLE_EXTENSIONS.contains(&e.as_str()))
}

/// Whether `path` names a JPEG, whose lossy compression alters a label map's class colours
/// and which is written with its own quality setting.
pub fn is_jpeg(path: &Path) -> bool {
    extension_lowercase(path).is_some_and(|e| e == "jpg" || e == "jpeg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_extension_is_one_the_build_decodes() {
        for extension in READABLE_EXTENSIONS {
            let format = image::ImageFormat::from_extension(extension)
                .unwrap_or_else(|| panic!("{extension}: no image format"));
            assert!(
                format.reading_enabled(),
                "{extension}: listed as readable but the image crate is built without {format:?}"
            );
        }
        assert!(is_readable_image(Path::new("a/B.WebP")));
        assert!(!is_readable_image(Path::new("a/b.heic")));
        assert!(is_jpeg(Path::new("x.JPEG")) && !is_jpeg(Path::new("x.png")));
    }
}
