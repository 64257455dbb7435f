//! Converts one GGUF file into a plain MLX folder: model.safetensors (MLX
//! affine quantization where GGML's is exactly representable), config.json,
//! generation_config.json and the tokenizer files. The folder is built in a
//! hidden staging folder and published with one rename.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use serde_json::{json, Value as Json};

use super::config::{llama3_rope_scaling, unpermute_row, Hparams};
use super::quant::{convert, Converted, Dense, GgmlType, GROUP};
use super::reader::GgufFile;
use super::tokenizer;
use super::write::{Planned, SafetensorsWriter};
use super::GgufError;
use crate::error::StoreError;
use crate::hub::{PullProgress, PARTIAL_DIR};
use crate::manifest::{sha256_file, Manifest, ManifestFile, Origin};
use crate::name::ModelName;
use crate::pull::publish;

/// One GGUF tensor and what it becomes.
struct Job {
    index: usize,
    hf: String,
    perm_heads: Option<u64>,
    rows: usize,
    cols: usize,
    /// Some(bits) when written as an MLX quantized triplet.
    bits: Option<u32>,
    /// Scale dtype for quantized output, element dtype for dense output.
    dtype: Dense,
    shape: Vec<u64>,
}

/// Imports `gguf_path` as `name` into `target` (through a staging folder
/// under `models_dir`); `origin` overrides the manifest's source.
pub(crate) fn import_to(
    models_dir: &Path,
    gguf_path: &Path,
    name: &ModelName,
    target: &Path,
    origin: Option<Origin>,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<(), StoreError> {
    let staging = models_dir
        .join(PARTIAL_DIR)
        .join(format!("import-{}", crate::unique_suffix()));
    fs_err::create_dir_all(&staging).map_err(|e| StoreError::io_at(&staging, e))?;
    let result = convert_folder(gguf_path, &staging, progress).and_then(|files| {
        if let Err(reason) = crate::layout::check_model_dir(&staging) {
            return Err(StoreError::BadModel {
                path: staging.clone(),
                reason,
            });
        }
        progress(PullProgress::status("writing manifest"));
        let size = fs_err::metadata(gguf_path).map(|m| m.len()).unwrap_or(0);
        let origin = origin.unwrap_or(Origin::Gguf {
            file: gguf_path.display().to_string(),
            size,
        });
        publish(
            models_dir,
            &staging,
            target,
            &Manifest::new(name.to_string(), origin, files),
        )
    });
    if result.is_err() {
        let _ = fs_err::remove_dir_all(&staging);
    }
    result?;
    progress(PullProgress::status("success"));
    tracing::info!(model = %name, file = %gguf_path.display(), "imported GGUF");
    Ok(())
}

/// Writes the converted model into the empty folder `dir`; returns the
/// manifest entries of the files written.
pub fn convert_folder(
    gguf_path: &Path,
    dir: &Path,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<Vec<ManifestFile>, StoreError> {
    let gg = |source: GgufError| StoreError::Gguf {
        path: gguf_path.to_path_buf(),
        source,
    };
    progress(PullProgress::status("parsing GGUF"));
    let gguf = GgufFile::open(gguf_path).map_err(gg)?;
    let hp = Hparams::read(&gguf).map_err(gg)?;
    let tok = tokenizer::build(&gguf, hp.context).map_err(gg)?;
    let jobs = plan(&gguf, &hp).map_err(gg)?;
    let rope_scaling = match gguf.tensor("rope_freqs.weight") {
        Some(t) if t.ggml_type == GgmlType::F32 => {
            let data = gguf.read_data(t).map_err(gg)?;
            let factors: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Some(llama3_rope_scaling(&factors, &hp, &gguf).map_err(gg)?)
        }
        Some(t) => {
            return Err(gg(GgufError::UnsupportedType {
                tensor: t.name.clone(),
                ggml_type: t.ggml_type.name(),
            }))
        }
        None => None,
    };
    let tied = gguf.tensor("output.weight").is_none();
    let config = hp.config_json(&tok, tied, rope_scaling, quantization_config(&jobs));
    let weights = dir.join("model.safetensors");
    let (size, sha256) =
        write_weights(&gguf, &hp, &jobs, &weights, progress).map_err(|e| match e {
            WriteError::Gguf(e) => gg(e),
            WriteError::Io(e) => StoreError::io_at(&weights, e),
        })?;
    let mut files = vec![ManifestFile {
        path: "model.safetensors".into(),
        size,
        sha256,
    }];
    let mut generation =
        json!({"bos_token_id": tok.bos_id, "eos_token_id": config["eos_token_id"]});
    if let Some(pad) = tok.pad_id {
        generation["pad_token_id"] = json!(pad);
    }
    let docs = [
        ("config.json", &config),
        ("generation_config.json", &generation),
        ("tokenizer.json", &tok.tokenizer),
        ("tokenizer_config.json", &tok.tokenizer_config),
        ("special_tokens_map.json", &tok.special_tokens_map),
    ];
    for (file, doc) in docs {
        let path = dir.join(file);
        let text = serde_json::to_vec_pretty(doc).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs_err::write(&path, &text).map_err(|e| StoreError::io_at(&path, e))?;
        files.push(ManifestFile {
            path: file.into(),
            size: text.len() as u64,
            sha256: sha256_file(&path)?,
        });
    }
    Ok(files)
}

/// Decides every output tensor before any data is converted.
fn plan(gguf: &GgufFile, hp: &Hparams) -> Result<Vec<Job>, GgufError> {
    let mut jobs = Vec::new();
    for (index, t) in gguf.tensors.iter().enumerate() {
        if t.name == "rope_freqs.weight" {
            continue;
        }
        let (hf, perm_heads) = hp.map_name(&t.name)?;
        let bad = |reason: &str| GgufError::BadTensor {
            tensor: t.name.clone(),
            reason: reason.to_string(),
        };
        if t.ggml_type.block().is_none() {
            return Err(GgufError::UnsupportedType {
                tensor: t.name.clone(),
                ggml_type: t.ggml_type.name(),
            });
        }
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| bad("too large"));
        let (rows, cols) = match t.dims.as_slice() {
            [n] => (1, to_usize(*n)?),
            [c, r] => (to_usize(*r)?, to_usize(*c)?),
            _ => {
                return Err(bad(
                    "more than two dimensions (mixture-of-experts models are not supported)",
                ))
            }
        };
        let bits = t.ggml_type.mlx_bits().filter(|_| rows > 1);
        let dtype = match (bits, t.ggml_type) {
            (Some(_), GgmlType::Q4_K | GgmlType::Q5_K) => Dense::F32,
            (Some(_), _) | (None, GgmlType::F16) => Dense::F16,
            (None, GgmlType::F32) => Dense::F32,
            (None, GgmlType::BF16) => Dense::BF16,
            (None, _) if rows > 1 => Dense::F16,
            (None, _) => return Err(bad("quantized one-dimensional tensors are not supported")),
        };
        if bits.is_some() && (!hf.ends_with(".weight") || cols % GROUP != 0) {
            return Err(bad(
                "quantized tensor that is not a weight matrix with whole 32-groups",
            ));
        }
        if let Some(heads) = perm_heads {
            let expect = heads * hp.head_dim;
            if rows as u64 != expect && !(rows == 1 && cols as u64 == expect) {
                return Err(bad(&format!(
                    "expected {expect} rows for {heads} heads of {}",
                    hp.head_dim
                )));
            }
        }
        jobs.push(Job {
            index,
            hf,
            perm_heads,
            rows,
            cols,
            bits,
            dtype,
            shape: t.shape(),
        });
    }
    Ok(jobs)
}

/// `quantization` for config.json: the most common bits as default, other
/// quantized modules as overrides keyed by module path. Dense modules are
/// left out: MLX loaders treat a weight without `.scales` as unquantized.
fn quantization_config(jobs: &[Job]) -> Option<Json> {
    let quantized: Vec<(&str, u32)> = jobs
        .iter()
        .filter_map(|j| Some((j.hf.strip_suffix(".weight")?, j.bits?)))
        .collect();
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for (module, bits) in &quantized {
        if !module.ends_with("embed_tokens") && *module != "lm_head" {
            *counts.entry(*bits).or_default() += 1;
        }
    }
    let default = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(b, _)| *b)
        .or_else(|| quantized.first().map(|q| q.1))?;
    let mut q = json!({"group_size": GROUP, "bits": default});
    for (module, bits) in quantized.iter().filter(|(_, b)| *b != default) {
        q[*module] = json!({"group_size": GROUP, "bits": bits});
    }
    Some(q)
}

enum WriteError {
    Gguf(GgufError),
    Io(std::io::Error),
}

/// Converts and writes every tensor in plan order.
fn write_weights(
    gguf: &GgufFile,
    hp: &Hparams,
    jobs: &[Job],
    path: &Path,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<(u64, String), WriteError> {
    let plan: Vec<Planned> = jobs.iter().flat_map(planned).collect();
    let total: u64 = plan.iter().map(|p| p.nbytes).sum();
    let mut writer = SafetensorsWriter::create(path, plan).map_err(WriteError::Io)?;
    let line = |completed: u64| PullProgress {
        status: "converting model".into(),
        digest: None,
        total: Some(total),
        completed: Some(completed),
    };
    progress(line(0));
    let head_dim = usize::try_from(hp.head_dim).unwrap_or(0);
    for job in jobs {
        let desc = &gguf.tensors[job.index];
        let data = gguf.read_data(desc).map_err(WriteError::Gguf)?;
        let permuted = |r: usize| job.perm_heads.map_or(r, |_| unpermute_row(r, head_dim));
        // A permuted 1-D bias is reordered element by element.
        let (rows, cols) = if job.perm_heads.is_some() && job.rows == 1 {
            (job.cols, 1)
        } else {
            (job.rows, job.cols)
        };
        let converted = convert(desc.ggml_type, &data, rows, cols, &permuted).map_err(|e| {
            WriteError::Gguf(GgufError::BadTensor {
                tensor: desc.name.clone(),
                reason: e.to_string(),
            })
        })?;
        for (name, bytes) in serialize(job, converted).map_err(WriteError::Gguf)? {
            writer.tensor(&name, &bytes).map_err(WriteError::Io)?;
        }
        progress(line(writer.written()));
    }
    writer.finish().map_err(WriteError::Io)
}

fn planned(job: &Job) -> Vec<Planned> {
    let rows = job.rows as u64;
    let cols = job.cols as u64;
    match job.bits {
        Some(bits) => {
            let base = job.hf.trim_end_matches(".weight");
            let groups = cols / GROUP as u64;
            let scale = |suffix: &str| Planned {
                name: format!("{base}.{suffix}"),
                dtype: job.dtype.safetensors(),
                shape: vec![rows, groups],
                nbytes: rows * groups * job.dtype.size(),
            };
            vec![
                Planned {
                    name: job.hf.clone(),
                    dtype: "U32",
                    shape: vec![rows, cols * u64::from(bits) / 32],
                    nbytes: rows * cols * u64::from(bits) / 8,
                },
                scale("scales"),
                scale("biases"),
            ]
        }
        None => vec![Planned {
            name: job.hf.clone(),
            dtype: job.dtype.safetensors(),
            shape: job.shape.clone(),
            nbytes: rows * cols * job.dtype.size(),
        }],
    }
}

/// Turns a converted tensor into (name, bytes) in plan order.
fn serialize(job: &Job, converted: Converted) -> Result<Vec<(String, Vec<u8>)>, GgufError> {
    match converted {
        Converted::Quantized {
            weight,
            scales,
            biases,
            scale_dtype,
            ..
        } => {
            if job.dtype == Dense::F16 && scale_dtype != Dense::F16 {
                return Err(GgufError::BadTensor {
                    tensor: job.hf.clone(),
                    reason: "block scale outside the float16 range".into(),
                });
            }
            let base = job.hf.trim_end_matches(".weight");
            let w: Vec<u8> = weight.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok(vec![
                (job.hf.clone(), w),
                (format!("{base}.scales"), floats(&scales, job.dtype)),
                (format!("{base}.biases"), floats(&biases, job.dtype)),
            ])
        }
        Converted::Dense { dtype, data } if dtype == job.dtype => Ok(vec![(job.hf.clone(), data)]),
        Converted::Dense { .. } => Err(GgufError::BadTensor {
            tensor: job.hf.clone(),
            reason: "unexpected element type".into(),
        }),
    }
}

fn floats(values: &[f32], dtype: Dense) -> Vec<u8> {
    match dtype {
        Dense::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dense::F16 => values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
        Dense::BF16 => values
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect(),
    }
}
