//! Info objects: ordered key/value string lists.

use std::ffi::{c_char, c_int};

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, guard, read_cstr, write_cstr, AbiError, AbiResult};
use crate::handles::{insert, st, user_handle, user_index};

/// Store a new info object; returns its handle.
pub fn new_info(v: Vec<(String, String)>) -> MpiInfo {
    user_handle(KIND_INFO, insert(&mut st().infos, v))
}

/// Set `key` to `value` in info `h` (for calls that report through an info object).
pub fn set_entry(h: MpiInfo, key: &str, value: &str) -> AbiResult<()> {
    let i = index(h)?;
    let mut s = st();
    let list = s.infos[i].as_mut().expect("validated");
    match list.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => list.push((key.to_string(), value.to_string())),
    }
    Ok(())
}

fn index(h: MpiInfo) -> AbiResult<usize> {
    user_index(KIND_INFO, h)
        .filter(|&i| st().infos.get(i).is_some_and(|s| s.is_some()))
        .ok_or_else(|| AbiError { code: class::INFO, msg: format!("invalid info handle {h:#x}") })
}

pub fn entries(h: MpiInfo) -> AbiResult<Vec<(String, String)>> {
    if h == MPI_INFO_ENV {
        return Ok(env_entries(&[]));
    }
    let i = index(h)?;
    Ok(st().infos[i].clone().unwrap_or_default())
}

fn key_of(p: *const c_char) -> AbiResult<String> {
    // SAFETY: MPI passes NUL-terminated strings.
    let k = unsafe { read_cstr(p) }?;
    if k.is_empty() || k.len() > MPI_MAX_INFO_KEY {
        return fail(class::INFO_KEY, format!("invalid info key of {} bytes", k.len()));
    }
    Ok(k.to_string())
}

export! { fn MPI_Info_create / PMPI_Info_create(info: *mut MpiInfo) -> c_int {
    guard("MPI_Info_create", MPI_COMM_WORLD, || out(info, new_info(Vec::new())))
}}
export! { fn MPI_Info_free / PMPI_Info_free(info: *mut MpiInfo) -> c_int {
    guard("MPI_Info_free", MPI_COMM_WORLD, || {
        if info.is_null() {
            return fail(class::ARG, "null info pointer");
        }
        // SAFETY: checked non-null.
        let i = index(unsafe { *info })?;
        st().infos[i] = None;
        out(info, MPI_INFO_NULL)
    })
}}
export! { fn MPI_Info_dup / PMPI_Info_dup(info: MpiInfo, new: *mut MpiInfo) -> c_int {
    guard("MPI_Info_dup", MPI_COMM_WORLD, || {
        let e = entries(info)?;
        out(new, new_info(e))
    })
}}
export! { fn MPI_Info_set / PMPI_Info_set(info: MpiInfo, key: *const c_char, value: *const c_char) -> c_int {
    guard("MPI_Info_set", MPI_COMM_WORLD, || {
        let i = index(info)?;
        let k = key_of(key)?;
        // SAFETY: MPI passes NUL-terminated strings.
        let v = unsafe { read_cstr(value) }?.to_string();
        if v.len() > MPI_MAX_INFO_VAL {
            return fail(class::INFO_VALUE, "info value too long");
        }
        let mut s = st();
        let list = s.infos[i].as_mut().expect("validated");
        match list.iter_mut().find(|(kk, _)| *kk == k) {
            Some(e) => e.1 = v,
            None => list.push((k, v)),
        }
        Ok(())
    })
}}
export! { fn MPI_Info_delete / PMPI_Info_delete(info: MpiInfo, key: *const c_char) -> c_int {
    guard("MPI_Info_delete", MPI_COMM_WORLD, || {
        let i = index(info)?;
        let k = key_of(key)?;
        let mut s = st();
        let list = s.infos[i].as_mut().expect("validated");
        let before = list.len();
        list.retain(|(kk, _)| *kk != k);
        if list.len() == before {
            return fail(class::INFO_NOKEY, format!("no info key {k:?}"));
        }
        Ok(())
    })
}}
export! { fn MPI_Info_get / PMPI_Info_get(info: MpiInfo, key: *const c_char, len: c_int, value: *mut c_char, flag: *mut c_int) -> c_int {
    guard("MPI_Info_get", MPI_COMM_WORLD, || {
        let k = key_of(key)?;
        let e = entries(info)?;
        let v = e.iter().find(|(kk, _)| *kk == k).map(|(_, v)| v.clone());
        out(flag, v.is_some() as c_int)?;
        if let Some(v) = v {
            if value.is_null() {
                return fail(class::ARG, "null value buffer");
            }
            // SAFETY: MPI gives len+1 bytes at `value`.
            unsafe { write_cstr(value, len.max(0) as usize + 1, &v) };
        }
        Ok(())
    })
}}
export! { fn MPI_Info_get_string / PMPI_Info_get_string(info: MpiInfo, key: *const c_char, buflen: *mut c_int, value: *mut c_char, flag: *mut c_int) -> c_int {
    guard("MPI_Info_get_string", MPI_COMM_WORLD, || {
        let k = key_of(key)?;
        let e = entries(info)?;
        let v = e.iter().find(|(kk, _)| *kk == k).map(|(_, v)| v.clone());
        out(flag, v.is_some() as c_int)?;
        if buflen.is_null() {
            return fail(class::ARG, "null buflen");
        }
        if let Some(v) = v {
            // SAFETY: checked non-null.
            let cap = unsafe { *buflen };
            if cap > 0 && !value.is_null() {
                // SAFETY: MPI gives `cap` bytes at `value`.
                unsafe { write_cstr(value, cap as usize, &v) };
            }
            // SAFETY: checked non-null.
            unsafe { *buflen = v.len() as c_int + 1 };
        }
        Ok(())
    })
}}
export! { fn MPI_Info_get_valuelen / PMPI_Info_get_valuelen(info: MpiInfo, key: *const c_char, len: *mut c_int, flag: *mut c_int) -> c_int {
    guard("MPI_Info_get_valuelen", MPI_COMM_WORLD, || {
        let k = key_of(key)?;
        let e = entries(info)?;
        let v = e.iter().find(|(kk, _)| *kk == k).map(|(_, v)| v.len());
        out(flag, v.is_some() as c_int)?;
        if let Some(n) = v {
            out(len, n as c_int)?;
        }
        Ok(())
    })
}}
export! { fn MPI_Info_get_nkeys / PMPI_Info_get_nkeys(info: MpiInfo, n: *mut c_int) -> c_int {
    guard("MPI_Info_get_nkeys", MPI_COMM_WORLD, || out(n, entries(info)?.len() as c_int))
}}
export! { fn MPI_Info_get_nthkey / PMPI_Info_get_nthkey(info: MpiInfo, n: c_int, key: *mut c_char) -> c_int {
    guard("MPI_Info_get_nthkey", MPI_COMM_WORLD, || {
        let e = entries(info)?;
        let Some((k, _)) = usize::try_from(n).ok().and_then(|n| e.get(n)) else {
            return fail(class::ARG, format!("info has no key number {n}"));
        };
        if key.is_null() {
            return fail(class::ARG, "null key buffer");
        }
        // SAFETY: MPI gives MPI_MAX_INFO_KEY+1 bytes at `key`.
        unsafe { write_cstr(key, MPI_MAX_INFO_KEY + 1, k) };
        Ok(())
    })
}}

/// The keys of `MPI_INFO_ENV` (MPI 4.1 §9.4.2): how this process was started.
/// `args` are the command line given to `MPI_Info_create_env` (empty: this process's own).
fn env_entries(args: &[String]) -> Vec<(String, String)> {
    let own: Vec<String>;
    let args = if args.is_empty() {
        own = std::env::args().collect();
        &own[..]
    } else {
        args
    };
    let mut v = Vec::new();
    if let Some(cmd) = args.first() {
        v.push(("command".to_string(), cmd.clone()));
    }
    if args.len() > 1 {
        v.push(("argv".to_string(), args[1..].join(" ")));
    }
    if let Ok(n) = rmpi_runtime::api::comm_size(rmpi_runtime::COMM_WORLD) {
        v.push(("maxprocs".to_string(), n.to_string()));
    }
    v.push(("host".to_string(), rmpi_runtime::api::processor_name()));
    v.push(("arch".to_string(), std::env::consts::ARCH.to_string()));
    if let Ok(d) = std::env::current_dir() {
        v.push(("wdir".to_string(), d.display().to_string()));
    }
    if let Ok(l) = rmpi_runtime::api::query_thread() {
        let name = ["MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED", "MPI_THREAD_SERIALIZED", "MPI_THREAD_MULTIPLE"];
        v.push(("thread_level".to_string(), name[(l as usize).min(3)].to_string()));
    }
    v
}

export! { fn MPI_Info_create_env / PMPI_Info_create_env(argc: c_int, argv: *mut *mut c_char, info: *mut MpiInfo) -> c_int {
    guard("MPI_Info_create_env", MPI_COMM_WORLD, || {
        let mut args = Vec::new();
        if !argv.is_null() {
            for i in 0..argc.max(0) as usize {
                // SAFETY: MPI passes argc strings at argv (or null argv).
                let p = unsafe { *argv.add(i) };
                if p.is_null() {
                    break;
                }
                // SAFETY: NUL-terminated per the C convention for argv.
                args.push(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned());
            }
        }
        out(info, new_info(env_entries(&args)))
    })
}}

export! { fn MPI_Get_hw_resource_info / PMPI_Get_hw_resource_info(info: *mut MpiInfo) -> c_int {
    guard("MPI_Get_hw_resource_info", MPI_COMM_WORLD, || {
        // The hardware levels MPI_Comm_split_type(MPI_COMM_TYPE_HW_GUIDED) knows.
        let v = vec![("mpi_hw_resource_type".to_string(), "mpi_shared_memory".to_string())];
        out(info, new_info(v))
    })
}}
