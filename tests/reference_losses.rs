//! Reference case `spade_losses` (`../shared/reference/`): one SPADE step's losses, computed
//! by the published PyTorch code in eval mode, reproduced within the case's tolerance. Any
//! case with `"net": "spade_losses"` listed in MANIFEST.json is checked, whatever its sizes.
use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use scenepaint::nets::spade::SpadeOptions;
use scenepaint::train::spade_family::SpadeNets;

fn reference_dir() -> PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into());
    let path = PathBuf::from(dir).join("reference");
    assert!(
        path.join("MANIFEST.json").exists(),
        "reference cases missing: {}",
        path.display()
    );
    path
}

fn json(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rel_l2(ours: &Tensor, reference: &Tensor) -> f64 {
    let ours = ours.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    let reference = reference
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap();
    assert_eq!(ours.dims(), reference.dims(), "element counts differ");
    let diff = (&ours - &reference)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let norm = reference
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    diff / norm.max(1e-30)
}

fn check_case(dir: &PathBuf, name: &str) {
    let case = json(&dir.join(format!("{name}.json")));
    let options_json = &case["options"];
    let options = SpadeOptions::from_json(options_json).unwrap();
    let lambda_feat = options_json["lambda_feat"].as_f64().unwrap_or(10.0);
    let lambda_kld = options_json["lambda_kld"].as_f64().unwrap_or(0.05);
    let tolerance = case["tolerance_rel_l2"].as_f64().unwrap();
    let device = Device::Cpu;
    let weights =
        candle_core::safetensors::load(dir.join(case["weights"].as_str().unwrap()), &device)
            .unwrap();
    let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
    let nets = SpadeNets::new(&options, vb.pp("G"), vb.pp("E"), vb.pp("D")).unwrap();
    let io: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join(format!("{name}.io.safetensors")), &device)
            .unwrap();
    let eps = io.get("input.eps");
    let step = nets
        .losses(
            &io["input.seg"],
            &io["input.real_image"],
            eps,
            lambda_feat,
            lambda_kld,
            false,
        )
        .unwrap();
    let mut ours: HashMap<&str, Option<Tensor>> = HashMap::new();
    ours.insert("fake_image", Some(step.fake_image));
    ours.insert("g_gan", Some(step.g_gan));
    ours.insert("d_fake", Some(step.d_fake));
    ours.insert("d_real", Some(step.d_real));
    ours.insert("g_feat", step.g_feat);
    ours.insert("kld", step.kld);
    ours.insert("mu", step.mu);
    ours.insert("logvar", step.logvar);
    let outputs = case["outputs"].as_object().unwrap();
    assert!(!outputs.is_empty());
    for output in outputs.keys() {
        let value = ours
            .get(output.as_str())
            .unwrap_or_else(|| panic!("{name}: unknown output {output}"));
        let value = value
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {output} was not computed"));
        let err = rel_l2(value, &io[&format!("output.{output}")]);
        assert!(
            err <= tolerance,
            "{name}: {output} relative L2 error {err:e} > {tolerance:e}"
        );
    }
}

#[test]
fn spade_losses_reference_cases() {
    let dir = reference_dir();
    let manifest = json(&dir.join("MANIFEST.json"));
    let mut checked = 0;
    for name in manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
    {
        if json(&dir.join(format!("{name}.json")))["net"] == "spade_losses" {
            check_case(&dir, name);
            checked += 1;
        }
    }
    assert!(checked > 0, "no spade_losses case in {}", dir.display());
}
