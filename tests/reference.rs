//! Every reference case in `SCENEPAINT_REFERENCE_DIR` (default `../shared/reference`) must be
//! reproduced by our port within its tolerance. A case whose net has no port fails.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::PathBuf;

use scenepaint::nets::reference::{list_cases, load_case, run_case};

fn reference_dir() -> PathBuf {
    std::env::var_os("SCENEPAINT_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference"))
        })
}

#[test]
fn every_reference_case_matches_the_published_implementation() {
    let dir = reference_dir();
    assert!(
        dir.is_dir(),
        "reference directory {} is missing (set SCENEPAINT_REFERENCE_DIR)",
        dir.display()
    );
    let case_paths = list_cases(&dir).expect("list reference cases");
    assert!(
        !case_paths.is_empty(),
        "no reference cases in {}",
        dir.display()
    );

    let (mut cases_checked, mut outputs_checked) = (0, 0);
    let mut failures = Vec::new();
    for path in &case_paths {
        let case = match load_case(path) {
            Ok(case) => case,
            Err(e) => {
                failures.push(format!("{e}"));
                continue;
            }
        };
        let comparisons = match run_case(path, &case) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", case.case));
                continue;
            }
        };
        assert!(
            !comparisons.is_empty(),
            "{}: declares no outputs",
            case.case
        );
        for comparison in &comparisons {
            let rel = comparison.rel_l2().expect("rel L2");
            println!(
                "{:<28} {:<40} rel_l2 {rel:.3e} (tol {:.0e})",
                case.case, comparison.output, comparison.tolerance_rel_l2
            );
            if rel.is_nan() || rel > comparison.tolerance_rel_l2 {
                failures.push(format!(
                    "{} / {}: rel_l2 {rel:.3e} > {:.0e}",
                    case.case, comparison.output, comparison.tolerance_rel_l2
                ));
            }
            outputs_checked += 1;
        }
        cases_checked += 1;
    }
    println!(
        "checked {cases_checked} cases, {outputs_checked} outputs (of {} case files)",
        case_paths.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        cases_checked,
        case_paths.len(),
        "every case file must be checked"
    );
}
