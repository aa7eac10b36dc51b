//! The real program's file dialogs (issue 17): rfd's asynchronous native dialog first, run on
//! a thread so the painter keeps drawing; where none can be shown (Linux without a desktop
//! portal or zenity, where rfd answers "cancelled" at once and only logs why) the in-app
//! browser of the `egui_file` crate, with the file-type filter, a typed path and the places
//! worked in lately beside it. A dialog that cannot be shown is always said in the status bar.
use super::files::{FileDialogs, FilePurpose, PickAnswer, PickRequest};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

/// `native` or `builtin` forces one kind of dialog (screenshots, or a broken portal).
pub const FILE_DIALOG_ENV: &str = "SCENEPAINT_FILE_DIALOG";

/// A native dialog that answers "nothing" this fast was never shown: no person cancels one
/// within a quarter of a second.
const NOT_SHOWN_WITHIN_MS: u128 = 250;

const BROWSER_SIZE: [f32; 2] = [560.0, 420.0];
/// The places window's outer width, and the space between it and the browser.
const PLACES_WIDTH: f32 = 200.0;
const GAP: f32 = 8.0;

enum NativeOutcome {
    Answered(Option<PathBuf>),
    NotShown,
}

enum OpenDialog {
    Native {
        request: PickRequest,
        outcome: mpsc::Receiver<NativeOutcome>,
    },
    Browser {
        request: PickRequest,
        browser: Box<egui_file::FileDialog>,
        places: Vec<PathBuf>,
    },
    /// A save onto an existing file waits for "Replace".
    ConfirmReplace { request: PickRequest, path: PathBuf },
}

/// Native dialogs while they work, the in-app browser once they do not.
pub struct SystemDialogs {
    open: Option<OpenDialog>,
    native_works: bool,
    /// Why no native dialog can be shown, said once with the first request.
    not_possible: Option<&'static str>,
    notice: Option<String>,
    /// Kept from the last poll so a native dialog's thread can wake the UI when it answers.
    ctx: Option<egui::Context>,
    last_folder: Option<PathBuf>,
}

impl Default for SystemDialogs {
    fn default() -> Self {
        let forced = std::env::var(FILE_DIALOG_ENV).ok();
        let native_works = match forced.as_deref() {
            Some("builtin") => false,
            Some("native") => true,
            _ => native_dialog_possible(),
        };
        let not_possible = (!native_works && forced.as_deref() != Some("builtin"))
            .then_some("no desktop portal, no zenity");
        SystemDialogs {
            open: None,
            native_works,
            not_possible,
            notice: None,
            ctx: None,
            last_folder: None,
        }
    }
}

/// On Linux and the BSDs rfd needs a desktop portal on the session bus or zenity on PATH;
/// without either it is known in advance that no dialog will appear.
fn native_dialog_possible() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    let session_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
    session_bus || on_path("zenity")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

impl SystemDialogs {
    /// Only the in-app browser, opening in `folder` until the user goes elsewhere (what
    /// `SCENEPAINT_FILE_DIALOG=builtin` gives; tests drive it like a user).
    pub fn in_app(folder: Option<PathBuf>) -> Self {
        SystemDialogs {
            native_works: false,
            not_possible: None,
            last_folder: folder,
            ..SystemDialogs::default()
        }
    }

    fn start_native(&mut self, request: PickRequest) {
        let (name, extensions) = request.purpose.filter();
        let mut dialog = rfd::AsyncFileDialog::new().set_title(request.purpose.title());
        if !extensions.is_empty() {
            dialog = dialog.add_filter(name, extensions);
        }
        if let Some(folder) = self.start_folder(&request) {
            dialog = dialog.set_directory(folder);
        }
        let purpose = request.purpose;
        let picked: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
            if purpose.is_folder() {
                Box::pin(dialog.pick_folder())
            } else if purpose.is_save() {
                Box::pin(
                    dialog
                        .set_file_name(request.suggested_name.as_str())
                        .save_file(),
                )
            } else {
                Box::pin(dialog.pick_file())
            };
        let (send, outcome) = mpsc::channel();
        let wake = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("file-dialog".to_string())
            .spawn(move || {
                let started = Instant::now();
                let path = pollster::block_on(picked).map(|handle| handle.path().to_path_buf());
                let quick = started.elapsed().as_millis() < NOT_SHOWN_WITHIN_MS;
                let answer = match path {
                    None if quick => NativeOutcome::NotShown,
                    path => NativeOutcome::Answered(path),
                };
                // The painter may have closed meanwhile; nobody to tell then.
                let _ = send.send(answer);
                if let Some(ctx) = wake {
                    ctx.request_repaint();
                }
            });
        match spawned {
            Ok(_) => self.open = Some(OpenDialog::Native { request, outcome }),
            Err(e) => self.fall_back(request, &format!("no thread for it ({e})")),
        }
    }

    /// Opens the in-app browser for `request`, saying why the native dialog was not used.
    fn fall_back(&mut self, request: PickRequest, why: &str) {
        self.native_works = false;
        self.notice = Some(format!(
            "No system file dialog ({why}): scenepaint's own file browser is used"
        ));
        self.start_browser(request);
    }

    fn start_browser(&mut self, request: PickRequest) {
        let places = places(&request, self.last_folder.as_deref());
        let purpose = request.purpose;
        let mut browser = if purpose.is_folder() {
            egui_file::FileDialog::select_folder()
        } else if purpose.is_save() {
            egui_file::FileDialog::save_file().default_filename(request.suggested_name.clone())
        } else {
            egui_file::FileDialog::open_file()
        };
        if let Some(folder) = self.start_folder(&request) {
            browser = browser.initial_path(folder);
        }
        let (_, extensions) = purpose.filter();
        if !extensions.is_empty() && !purpose.is_save() {
            browser = browser
                .show_files_filter(Box::new(move |path: &Path| has_extension(path, extensions)));
        }
        let mut browser = browser
            .title(purpose.title())
            .id(egui::Id::unique("scenepaint-file-browser"))
            .default_size(BROWSER_SIZE)
            .show_rename(false)
            .keep_on_top(true);
        browser.open();
        self.open = Some(OpenDialog::Browser {
            request,
            browser: Box::new(browser),
            places,
        });
    }

    fn start_folder(&self, request: &PickRequest) -> Option<PathBuf> {
        request
            .places
            .first()
            .cloned()
            .or_else(|| self.last_folder.clone())
            .filter(|folder| folder.is_dir())
    }

    /// Shows the browser one frame; the answer once the user chose or cancelled.
    fn show_browser(
        &mut self,
        ctx: &egui::Context,
        request: PickRequest,
        mut browser: Box<egui_file::FileDialog>,
        places: Vec<PathBuf>,
    ) -> Option<PickAnswer> {
        let (places_at, browser_at) = layout(ctx);
        if let Some(place) = show_places(ctx, &places, places_at) {
            browser.set_path(place);
        }
        browser = Box::new(browser.current_pos(browser_at));
        browser.show(ctx);
        match browser.state() {
            egui_file::State::Open => {
                self.open = Some(OpenDialog::Browser {
                    request,
                    browser,
                    places,
                });
                None
            }
            egui_file::State::Selected => {
                let chosen = browser
                    .path()
                    .map(|p| with_extension_for(p, request.purpose));
                self.last_folder = Some(browser.directory().to_path_buf());
                match chosen {
                    Some(path) if request.purpose.is_save() && path.exists() => {
                        self.open = Some(OpenDialog::ConfirmReplace { request, path });
                        None
                    }
                    path => Some(PickAnswer { request, path }),
                }
            }
            _ => Some(PickAnswer {
                request,
                path: None,
            }),
        }
    }
}

impl FileDialogs for SystemDialogs {
    fn request(&mut self, request: PickRequest) -> bool {
        if self.open.is_some() {
            return false;
        }
        if self.native_works {
            self.start_native(request);
        } else if let Some(why) = self.not_possible.take() {
            self.fall_back(request, why);
        } else {
            self.start_browser(request);
        }
        true
    }

    fn poll(&mut self, ctx: Option<&egui::Context>) -> Option<PickAnswer> {
        if let Some(ctx) = ctx {
            self.ctx = Some(ctx.clone());
        }
        match self.open.take()? {
            OpenDialog::Native { request, outcome } => match outcome.try_recv() {
                Ok(NativeOutcome::Answered(path)) => {
                    self.last_folder = path
                        .as_deref()
                        .and_then(Path::parent)
                        .map(Path::to_path_buf);
                    Some(PickAnswer { request, path })
                }
                Ok(NativeOutcome::NotShown) => {
                    self.fall_back(request, "no desktop portal or zenity answered");
                    None
                }
                Err(mpsc::TryRecvError::Empty) => {
                    self.open = Some(OpenDialog::Native { request, outcome });
                    None
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.fall_back(request, "its thread stopped");
                    None
                }
            },
            OpenDialog::Browser {
                request,
                browser,
                places,
            } => match ctx {
                Some(ctx) => self.show_browser(ctx, request, browser, places),
                None => {
                    self.open = Some(OpenDialog::Browser {
                        request,
                        browser,
                        places,
                    });
                    None
                }
            },
            OpenDialog::ConfirmReplace { request, path } => match ctx.map(|c| confirm(c, &path)) {
                Some(Some(true)) => Some(PickAnswer {
                    request,
                    path: Some(path),
                }),
                Some(Some(false)) => {
                    self.start_browser(request);
                    None
                }
                _ => {
                    self.open = Some(OpenDialog::ConfirmReplace { request, path });
                    None
                }
            },
        }
    }

    fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }
}

/// The folders offered beside the browser: the request's recent ones, the last folder a
/// dialog showed, home and the working folder; each once, only those that exist.
fn places(request: &PickRequest, last_folder: Option<&Path>) -> Vec<PathBuf> {
    let mut places: Vec<PathBuf> = Vec::new();
    let candidates = request
        .places
        .iter()
        .cloned()
        .chain(last_folder.map(Path::to_path_buf))
        .chain(dirs::home_dir())
        .chain(std::env::current_dir().ok());
    for place in candidates {
        if place.is_dir() && !places.contains(&place) {
            places.push(place);
        }
    }
    places
}

/// Top-left corners of the places window and the browser, the pair centred in the window.
fn layout(ctx: &egui::Context) -> (egui::Pos2, egui::Pos2) {
    let screen = ctx.content_rect();
    let width = PLACES_WIDTH + GAP + BROWSER_SIZE[0];
    let left = (screen.center().x - width / 2.0).max(screen.left());
    let top = (screen.center().y - BROWSER_SIZE[1] / 2.0).max(screen.top());
    (
        egui::pos2(left, top),
        egui::pos2(left + PLACES_WIDTH + GAP, top),
    )
}

/// A small window left of the browser; the place clicked, if any.
fn show_places(ctx: &egui::Context, places: &[PathBuf], at: egui::Pos2) -> Option<PathBuf> {
    let mut clicked = None;
    let inner_width = PLACES_WIDTH - 2.0 * ctx.global_style().spacing.window_margin.leftf();
    egui::Window::new("Places")
        .id(egui::Id::unique("scenepaint-file-places"))
        .current_pos(at)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            ui.set_width(inner_width);
            ctx.move_to_top(ui.layer_id());
            let home = dirs::home_dir();
            let working = std::env::current_dir().ok();
            for place in places {
                let name = place.file_name().map_or_else(
                    || place.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                let name = if Some(place) == home.as_ref() {
                    "Home".to_string()
                } else if Some(place) == working.as_ref() {
                    format!("Working folder ({name})")
                } else {
                    name
                };
                let response = ui
                    .selectable_label(false, format!("🗀 {name}"))
                    .on_hover_text(place.display().to_string());
                if response.clicked() {
                    clicked = Some(place.clone());
                }
            }
        });
    clicked
}

/// "Replace" (true), "Cancel" (false) or no answer yet.
fn confirm(ctx: &egui::Context, path: &Path) -> Option<bool> {
    let mut answer = None;
    egui::Modal::new(egui::Id::unique("scenepaint-confirm-replace")).show(ctx, |ui| {
        ui.heading("Replace the file?");
        ui.label(format!("{} already exists.", path.display()));
        ui.horizontal(|ui| {
            if ui.button("Replace").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    answer
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// A save typed without a known extension gets the purpose's first one ("painting" becomes
/// "painting.scenepaint"), as native dialogs do.
fn with_extension_for(path: &Path, purpose: FilePurpose) -> PathBuf {
    let (_, extensions) = purpose.filter();
    match extensions.first() {
        Some(first) if purpose.is_save() && !has_extension(path, extensions) => {
            let mut name = path.as_os_str().to_os_string();
            name.push(".");
            name.push(first);
            PathBuf::from(name)
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_without_extension_gets_the_purposes_first() {
        let typed = Path::new("out/painting");
        let project = with_extension_for(typed, FilePurpose::SaveProject);
        assert_eq!(project.extension().unwrap(), "scenepaint");
        let image = with_extension_for(Path::new("out/photo.JPG"), FilePurpose::ExportImage);
        assert_eq!(image, Path::new("out/photo.JPG"));
        let opened = with_extension_for(typed, FilePurpose::OpenProject);
        assert_eq!(opened, typed);
    }

    #[test]
    fn a_desktop_without_native_dialogs_is_told_once_and_gets_the_browser() {
        let mut dialogs = SystemDialogs::in_app(None);
        dialogs.not_possible = Some("no desktop portal, no zenity");
        assert!(dialogs.request(PickRequest::new(FilePurpose::OpenProject, "")));
        let notice = dialogs.take_notice().expect("a visible message");
        assert!(notice.contains("no zenity"), "{notice}");
        assert!(matches!(dialogs.open, Some(OpenDialog::Browser { .. })));
        assert!(
            !dialogs.request(PickRequest::new(FilePurpose::Dataset, "")),
            "one at a time"
        );
        dialogs.open = None;
        assert!(dialogs.request(PickRequest::new(FilePurpose::Dataset, "")));
        assert_eq!(dialogs.take_notice(), None, "said once");
    }

    #[test]
    fn places_are_unique_existing_folders_recent_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = PickRequest::new(FilePurpose::OpenProject, "");
        request.places = vec![
            dir.path().to_path_buf(),
            dir.path().join("missing"),
            dir.path().to_path_buf(),
        ];
        let found = places(&request, Some(dir.path()));
        assert_eq!(found[0], dir.path());
        assert_eq!(found.iter().filter(|p| *p == dir.path()).count(), 1);
        assert!(found.iter().all(|p| p.is_dir()));
    }
}
