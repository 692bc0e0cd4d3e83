//! The README quick start is `examples/quickstart.rs` verbatim (after the
//! example's leading doc comment), so the doctest of one keeps both honest.

#[test]
fn readme_quick_start_is_the_quickstart_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let start = readme
        .find("## Quick start")
        .expect("README has a Quick start section");
    let block = &readme[start..];
    let open = block.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let close = block[open..].find("\n```").expect("the block ends") + open;
    let code = &block[open..=close];
    let body: String = example
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        code, body,
        "README quick start and examples/quickstart.rs differ"
    );
}
