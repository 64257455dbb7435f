//! Every broken model folder is a typed error naming the file or field; nothing panics.
mod common;
use common::*;
use ollmlx_engine::{LoadOptions, Model};
use std::path::Path;

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn broken(edit: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_dir(&model_dir("tiny-llama-f32"), &dir);
    edit(&dir);
    match Model::load(&dir, &LoadOptions::default()) {
        Ok(_) => panic!("a broken model loaded"),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, v.to_string()).unwrap();
}

#[test]
fn missing_tokenizer() {
    let e = broken(|d| std::fs::remove_file(d.join("tokenizer.json")).unwrap());
    assert!(e.contains("tokenizer.json"), "{e}");
}

#[test]
fn missing_weights() {
    let e = broken(|d| std::fs::remove_file(d.join("model.safetensors")).unwrap());
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn truncated_safetensors() {
    let e = broken(|d| {
        let p = d.join("model.safetensors");
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len / 2).unwrap();
    });
    assert!(e.contains("model.safetensors") && e.contains("invalid safetensors"), "{e}");
}

#[test]
fn shape_disagrees_with_config() {
    let e = broken(|d| edit_config(d, |c| c["intermediate_size"] = serde_json::json!(1000)));
    assert!(e.contains("mlp") && e.contains("1000"), "{e}");
}

#[test]
fn unknown_architecture_lists_supported() {
    let e = broken(|d| edit_config(d, |c| c["model_type"] = serde_json::json!("mamba9")));
    assert!(e.contains("mamba9") && e.contains("llama"), "{e}");
}

#[test]
fn bad_config_field_is_named() {
    let e = broken(|d| edit_config(d, |c| c["num_attention_heads"] = serde_json::json!("four")));
    assert!(e.contains("config.json") && e.contains("num_attention_heads") || e.contains("invalid type"), "{e}");
}

#[test]
fn broken_template() {
    let e = broken(|d| {
        let p = d.join("tokenizer_config.json");
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["chat_template"] = serde_json::json!("{% for m in messages %}{{ m.content }");
        std::fs::write(&p, v.to_string()).unwrap();
        let _ = std::fs::remove_file(d.join("chat_template.jinja"));
    });
    assert!(e.to_lowercase().contains("template"), "{e}");
}
