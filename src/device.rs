//! Compute devices by name (`cpu`, `cuda:N`, `metal:N`) for the command line and the run
//! records: one parser and one printer, with errors that say what this binary can use; and
//! the device kinds the painter and the training panel offer ([`DeviceChoice`]).
use candle_core::{Device, DeviceLocation};

use crate::error::{Error, Result};

/// The device `text` names; a GPU this binary was not built for, or that does not answer, is an
/// error that says so and names the alternative.
pub fn parse_device(text: &str) -> Result<Device> {
    let bad = || {
        Error::msg(format!(
            "unknown device '{text}': expected cpu, cuda:N or metal:N (N = 0 for the first GPU)"
        ))
    };
    if text == "cpu" {
        return Ok(Device::Cpu);
    }
    let (kind, ordinal) = text.split_once(':').ok_or_else(bad)?;
    let ordinal: usize = ordinal.parse().map_err(|_| bad())?;
    let (opened, compiled, feature) = match kind {
        "cuda" => (
            Device::new_cuda(ordinal),
            candle_core::utils::cuda_is_available(),
            "cuda",
        ),
        "metal" => (
            Device::new_metal(ordinal),
            candle_core::utils::metal_is_available(),
            "metal",
        ),
        _ => return Err(bad()),
    };
    opened.map_err(|e| {
        let why = if compiled {
            format!("the GPU did not answer ({e}); is the NVIDIA/Apple driver installed and a GPU present?")
        } else {
            format!("this binary was built without {feature} support (cargo build --features {feature}, or scripts/build-cuda.sh)")
        };
        Error::msg(format!("cannot use device {text}: {why}; --device cpu runs on the CPU"))
    })
}

/// A kind of compute device the painter and the training panel offer (the first GPU of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    Metal,
}

impl DeviceChoice {
    pub fn label(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "CPU",
            DeviceChoice::Cuda => "CUDA",
            DeviceChoice::Metal => "Metal",
        }
    }

    /// The name [`parse_device`] reads: `cpu`, `cuda:0`, `metal:0`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda:0",
            DeviceChoice::Metal => "metal:0",
        }
    }

    /// CPU always; CUDA / Metal when compiled in and a device is present.
    pub fn available() -> Vec<DeviceChoice> {
        let mut devices = vec![DeviceChoice::Cpu];
        if candle_core::utils::cuda_is_available() {
            devices.push(DeviceChoice::Cuda);
        }
        if candle_core::utils::metal_is_available() {
            devices.push(DeviceChoice::Metal);
        }
        devices
    }

    /// The device, opened by [`parse_device`] (so its errors say what this binary can use).
    pub fn device(self) -> Result<Device> {
        parse_device(self.name())
    }
}

/// The name [`parse_device`] reads back: `cpu`, `cuda:N`, `metal:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_what_is_expected() {
        assert_eq!(device_name(&parse_device("cpu").unwrap()), "cpu");
        assert_eq!(device_name(&DeviceChoice::Cpu.device().unwrap()), "cpu");
        for choice in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Metal] {
            let kind = choice.name().split(':').next().unwrap();
            assert!(choice.label().eq_ignore_ascii_case(kind), "{choice:?}");
        }
        for bad in ["gpu", "cuda", "cuda:x", "tpu:0"] {
            let err = parse_device(bad).unwrap_err().to_string();
            assert!(
                err.contains("expected cpu, cuda:N or metal:N"),
                "{bad}: {err}"
            );
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_gpu_this_binary_lacks_is_a_clear_error() {
        let err = parse_device("cuda:0").unwrap_err().to_string();
        assert!(
            err.contains("built without cuda support") && err.contains("--device cpu"),
            "{err}"
        );
    }
}
