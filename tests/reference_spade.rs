//! The SPADE ports against the published PyTorch networks: every reference case in
//! `../shared/reference` whose `net` is a SPADE one (any sizes and options the case gives)
//! must reproduce the stored outputs within the case's relative-L2 tolerance, and must use
//! every tensor of the case's weights file (a silently ignored weight would be a wrong port).
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use scenepaint::nets::reference::spade_cases::{run_spade_case, SPADE_CASE_NETS};

fn reference_dir() -> PathBuf {
    match std::env::var_os("SCENEPAINT_REFERENCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference")).to_path_buf()
        }
    }
}

/// A weights backend that records which tensors the network asked for.
struct TrackingBackend {
    tensors: HashMap<String, Tensor>,
    used: Arc<Mutex<HashSet<String>>>,
}

impl TrackingBackend {
    fn mark(&self, name: &str) {
        self.used.lock().unwrap().insert(name.to_string());
    }
}

impl SimpleBackend for TrackingBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.mark(name);
        SimpleBackend::get(&self.tensors, s, name, h, dtype, dev)
    }
    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.mark(name);
        SimpleBackend::get_unchecked(&self.tensors, name, dtype, dev)
    }
    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

fn rel_l2(ours: &Tensor, reference: &Tensor) -> Result<f64> {
    let ours = ours.to_dtype(DType::F64)?;
    let reference = reference.to_dtype(DType::F64)?;
    let diff = (ours - &reference)?
        .sqr()?
        .sum_all()?
        .sqrt()?
        .to_scalar::<f64>()?;
    let norm = reference.sqr()?.sum_all()?.sqrt()?.to_scalar::<f64>()?;
    Ok(diff / norm.max(1e-30))
}

/// Cases of the manifest whose `net` is `net`, with their JSON.
fn cases_for(net: &str) -> Result<Vec<(String, serde_json::Value)>> {
    let dir = reference_dir();
    let manifest_path = dir.join("MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )?;
    let names = manifest["cases"]
        .as_array()
        .context("MANIFEST.json has no 'cases' list")?;
    let mut cases = Vec::new();
    for name in names {
        let name = name.as_str().context("case name is not a string")?;
        let path = dir.join(format!("{name}.json"));
        let case: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?;
        if case["net"] == net {
            cases.push((name.to_string(), case));
        }
    }
    ensure!(
        !cases.is_empty(),
        "no reference case with net '{net}' in {}",
        manifest_path.display()
    );
    Ok(cases)
}

fn run_case(name: &str, case: &serde_json::Value) -> Result<()> {
    let dir = reference_dir();
    let device = Device::Cpu;
    let io = candle_core::safetensors::load(dir.join(format!("{name}.io.safetensors")), &device)?;
    let inputs: HashMap<String, Tensor> = io
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("input.").map(|k| (k.to_string(), v.clone())))
        .collect();
    let used = Arc::new(Mutex::new(HashSet::new()));
    let mut weight_names = Vec::new();
    let vb = match case["weights"].as_str() {
        Some(file) => {
            let tensors = candle_core::safetensors::load(dir.join(file), &device)?;
            weight_names = tensors.keys().cloned().collect();
            let backend = TrackingBackend {
                tensors,
                used: used.clone(),
            };
            Some(VarBuilder::from_backend(
                Box::new(backend),
                DType::F32,
                device.clone(),
            ))
        }
        None => None,
    };
    let net = case["net"].as_str().context("case has no 'net'")?;
    let outputs =
        run_spade_case(net, &case["options"], vb, &inputs)?.context("net is not a SPADE case")?;
    let outputs: HashMap<String, Tensor> = outputs.into_iter().collect();
    let tolerance = case["tolerance_rel_l2"]
        .as_f64()
        .context("case has no tolerance_rel_l2")?;
    let expected = case["outputs"]
        .as_object()
        .context("case has no 'outputs'")?;
    ensure!(!expected.is_empty(), "{name}: no outputs to compare");
    for (out_name, shape) in expected {
        let ours = outputs
            .get(out_name)
            .with_context(|| format!("{name}: we produced no output '{out_name}'"))?;
        let reference = io
            .get(&format!("output.{out_name}"))
            .with_context(|| format!("{name}: no output.{out_name}"))?;
        let shape: Vec<usize> = serde_json::from_value(shape.clone())?;
        ensure!(
            ours.dims() == shape.as_slice(),
            "{name}.{out_name}: shape {:?}, expected {shape:?}",
            ours.dims()
        );
        let err = rel_l2(ours, reference)?;
        println!("{name}.{out_name}: rel L2 {err:.3e}");
        // A NaN error must fail too, so this is not `err > tolerance`.
        if err.is_nan() || err > tolerance {
            bail!("{name}.{out_name}: rel L2 {err:.3e} > tolerance {tolerance:e}");
        }
    }
    let used = used.lock().unwrap();
    let unused: Vec<_> = weight_names
        .iter()
        .filter(|n| !used.contains(*n) && !n.ends_with("num_batches_tracked"))
        .collect();
    ensure!(
        unused.is_empty(),
        "{name}: weights never loaded: {unused:?}"
    );
    Ok(())
}

fn run_all(net: &str) -> Result<()> {
    assert!(SPADE_CASE_NETS.contains(&net));
    for (name, case) in cases_for(net)? {
        run_case(&name, &case).with_context(|| format!("case {name}"))?;
    }
    Ok(())
}

#[test]
fn semantic_input_matches_reference() -> Result<()> {
    run_all("semantic_input")
}

#[test]
fn spade_generator_matches_reference() -> Result<()> {
    run_all("spade_generator")
}

#[test]
fn spade_encoder_matches_reference() -> Result<()> {
    run_all("spade_encoder")
}

#[test]
fn spade_discriminator_matches_reference() -> Result<()> {
    run_all("spade_multiscale_discriminator")
}
