//! The README's Rust blocks are whole programs as printed: nothing hidden
//! from the reader (rustdoc's `# ` lines), each with its `fn main`. The
//! doctest harness compiles them (`ReadmeDoctests` in lib.rs).

#[test]
fn every_rust_block_of_the_readme_is_a_whole_program_as_printed() {
    let readme = include_str!("../../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(Vec::new()),
            None => {}
            Some(block) if line.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    assert!(current.is_none(), "an unclosed block");
    assert!(
        blocks.len() >= 5,
        "the README's Rust blocks: {}",
        blocks.len()
    );
    for block in &blocks {
        let text = block.join("\n");
        for line in block {
            let t = line.trim_start();
            assert!(
                !(t == "#" || t.starts_with("# ")),
                "a line hidden from the reader: {line:?} in\n{text}"
            );
        }
        assert!(text.contains("fn main()"), "no fn main in\n{text}");
    }
}
