//! The key-encryption key: from `PORTCULLIS_KEY_ENCRYPTION_KEY`, or `keys/kek` created on
//! first start with mode 0600.

use std::io::Write;
use std::path::Path;

use base64::Engine;

use super::KeyError;
use super::crypto::new_kek_base64;
use crate::config::Config;

/// Returns the KEK and whether it was just created.
pub fn load_kek(config: &Config) -> Result<([u8; 32], bool), KeyError> {
    if let Some(k) = config.kek_bytes() {
        return Ok((k, false));
    }
    let path = config.keys_dir.join("kek");
    if path.exists() {
        return Ok((read(&path)?, false));
    }
    std::fs::create_dir_all(&config.keys_dir)
        .map_err(|e| KeyError::Kek(format!("{}: {e}", config.keys_dir.display())))?;
    let encoded = new_kek_base64()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(format!("{encoded}\n").as_bytes())
                .map_err(|e| KeyError::Kek(e.to_string()))?;
            f.sync_all().map_err(|e| KeyError::Kek(e.to_string()))?;
            Ok((read(&path)?, true))
        }
        // Another process created it between our check and our open.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read(&path)?, false)),
        Err(e) => Err(KeyError::Kek(format!("{}: {e}", path.display()))),
    }
}

fn read(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Kek(format!("{}: {e}", path.display())))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| KeyError::Kek(format!("{}: not base64", path.display())))?;
    bytes
        .try_into()
        .map_err(|_| KeyError::Kek(format!("{}: must hold 32 bytes", path.display())))
}
