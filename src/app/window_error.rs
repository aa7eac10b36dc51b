//! What to tell a person whose desktop cannot open the painter's window. eframe's own errors
//! name the failing layer ("winit EventLoopError", "WGPU error: Failed to create surface for
//! any enabled backend") but not what to do; the two causes met in practice are no display to
//! open a window on and no graphics driver wgpu can draw with (measured by hiding the Vulkan
//! and EGL drivers under Xvfb: wgpu falls back to OpenGL on its own when only Vulkan is
//! missing, and fails when both are).

/// What the command line offers when the window cannot open.
const WITHOUT_WINDOW: &str = "The command line works without a window: `scenepaint translate`, \
`train`, `evaluate` (`scenepaint --help`).";

/// The message for a failed window start: eframe's error, then the likely cause and a remedy.
pub fn window_error_message(error: &eframe::Error) -> String {
    let hint = match error {
        eframe::Error::Winit(_) | eframe::Error::WinitEventLoop(_) => {
            "There is no display to open a window on: run it in a desktop session (on Linux \
             DISPLAY or WAYLAND_DISPLAY must be set; over ssh, use `ssh -X`)."
        }
        eframe::Error::Wgpu(_) => {
            "No graphics driver could draw the window (wgpu tries Vulkan, Metal, DirectX 12 and \
             OpenGL). Install or update the graphics driver; on Debian or Ubuntu Mesa's drivers \
             are `apt-get install mesa-vulkan-drivers libegl1 libgl1-mesa-dri`. \
             `WGPU_BACKEND=gl` forces OpenGL, `WGPU_BACKEND=vulkan` Vulkan."
        }
        _ => "",
    };
    let mut message = format!("cannot open the painter window: {error}");
    for part in [hint, WITHOUT_WINDOW] {
        if !part.is_empty() {
            message.push_str("\n  ");
            message.push_str(part);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_graphics_driver_names_the_remedy() {
        let error = eframe::Error::Wgpu(eframe::egui_wgpu::WgpuError::NoSurfaceFormatsAvailable);
        let message = window_error_message(&error);
        assert!(
            message.starts_with("cannot open the painter window: WGPU error"),
            "{message}"
        );
        assert!(message.contains("mesa-vulkan-drivers"), "{message}");
        assert!(message.contains("WGPU_BACKEND=gl"), "{message}");
        assert!(message.contains("scenepaint translate"), "{message}");
    }

    #[test]
    fn no_display_says_so() {
        let error = eframe::Error::WinitEventLoop(winit::error::EventLoopError::RecreationAttempt);
        let message = window_error_message(&error);
        assert!(message.contains("no display"), "{message}");
        assert!(!message.contains("mesa"), "{message}");
        assert!(message.contains("scenepaint translate"), "{message}");
    }
}
