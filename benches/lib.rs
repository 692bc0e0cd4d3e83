//! Criterion benches of failsoft; the benches are the targets of this
//! package (see `Cargo.toml`), this library is empty.
