//! The store's watcher, through the running daemon: a model folder copied into the store by hand
//! (or by huggingface-cli / mlx-lm) is served without a restart once complete, and a removed one
//! disappears from /api/tags.
mod common;
use serde_json::json;

fn tags(d: &common::Daemon) -> Vec<String> {
    let (_, v) = d.get("/api/tags");
    v["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_folder_copied_in_is_served_without_a_restart_and_removal_unlists_it() {
    let d = common::start(&[("first", "tiny-llama-f32")], &[]);
    assert!(!tags(&d).iter().any(|t| t == "test/arrived:latest"));
    // Copy it in file by file, weights last and slowly, like a download in progress: it must
    // not be listed until complete.
    let dir = d.store.join("test/arrived");
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::fixture("tiny-qwen2-f32");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "model.safetensors" {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    let weights = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!tags(&d).iter().any(|t| t == "test/arrived:latest"), "a half-written model was listed");
    std::fs::write(dir.join("model.safetensors"), &weights).unwrap();
    d.wait_for("the copied model to be listed", 30, |d| tags(d).iter().any(|t| t == "test/arrived:latest"));
    let (status, v) = d.generate("test/arrived", json!({}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["done"], true);
    std::fs::remove_dir_all(&dir).unwrap();
    d.wait_for("the removed model to be unlisted and unloaded", 30, |d| {
        !tags(d).iter().any(|t| t == "test/arrived:latest") && !d.loaded().iter().any(|m| m.contains("arrived"))
    });
    let (status, v) = d.generate("test/arrived", json!({}));
    assert_eq!(status, 404, "{v}");
}
