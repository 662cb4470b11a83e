//! The ofi binding's structure layouts and constants against libfabric's
//! own headers: a C program built with the system compiler prints every
//! size and offset listed in `ofi::sys::LAYOUT` (and the constants in
//! `ofi::sys::CONSTANTS`), and each must equal the Rust value. Skipped,
//! with a message, when the headers (`libfabric-dev`) are not installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use rmpi_transports::ofi::sys::{CONSTANTS, LAYOUT};

#[test]
fn layouts_and_constants_match_the_c_headers() {
    if !Path::new("/usr/include/rdma/fabric.h").exists() {
        eprintln!("skipped: /usr/include/rdma/fabric.h not found (install libfabric-dev)");
        return;
    }
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <rdma/fabric.h>\n#include <rdma/fi_domain.h>\n\
         #include <rdma/fi_endpoint.h>\n#include <rdma/fi_cm.h>\n#include <rdma/fi_rma.h>\n\
         #include <rdma/fi_tagged.h>\n#include <rdma/fi_eq.h>\n#include <rdma/fi_errno.h>\nint main(void) {\n",
    );
    for (ty, field, _) in LAYOUT {
        if field.is_empty() {
            writeln!(c, "  printf(\"%zu\\n\", sizeof(struct {ty}));").unwrap();
        } else {
            writeln!(c, "  printf(\"%zu\\n\", offsetof(struct {ty}, {field}));").unwrap();
        }
    }
    for (expr, _) in CONSTANTS {
        writeln!(c, "  printf(\"%lld\\n\", (long long)({expr}));").unwrap();
    }
    c.push_str("  return 0;\n}\n");
    let dir = std::env::temp_dir().join(format!("rmpi-ofi-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, &c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc).arg(&src).arg("-o").arg(&exe).output().expect("run the C compiler");
    assert!(out.status.success(), "{cc} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().expect("run the layout program");
    assert!(run.status.success());
    let text = String::from_utf8(run.stdout).unwrap();
    let got: Vec<i128> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(got.len(), LAYOUT.len() + CONSTANTS.len());
    let mut wrong = Vec::new();
    for ((ty, field, rust), c) in LAYOUT.iter().zip(&got) {
        if *rust as i128 != *c {
            let what = if field.is_empty() { format!("sizeof(struct {ty})") } else { format!("{ty}.{field}") };
            wrong.push(format!("{what}: C {c}, Rust {rust}"));
        }
    }
    for ((expr, rust), c) in CONSTANTS.iter().zip(&got[LAYOUT.len()..]) {
        if rust != c {
            wrong.push(format!("{expr}: C {c}, Rust {rust}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(wrong.is_empty(), "layout mismatches:\n{}", wrong.join("\n"));
}
