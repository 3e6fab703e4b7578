//! Zero-copy views of shared memory for JavaScript, through Node-API.
//!
//! Deno makes an `ArrayBuffer` over a raw pointer only with an unrestricted
//! `--allow-ffi` (`Deno.UnsafePointerView`; denoland/deno#15511), which
//! would also let processor code `dlopen` anything. The worker runs with
//! `--allow-ffi` scoped to this library, which does allow loading it as a
//! Node-API addon (`process.dlopen`). So this library is also an addon with
//! two functions, each returning an external `ArrayBuffer` over memory the
//! open call owns, never over an address JavaScript names:
//!
//! - `frame()`: the input data of the frame being processed;
//! - `loan(port)`: the buffer loaned on output `port` and not yet sent.
//!
//! V8 does not free external memory; the finalizer does nothing. host.ts
//! detaches the buffers when the call ends.

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::bridge::DataPtr;
use crate::ffi::active;
use crate::host::panic_text;

type Env = *mut c_void;
type Value = *mut c_void;
type CallbackInfo = *mut c_void;
type Status = i32;
type Callback = unsafe extern "C" fn(Env, CallbackInfo) -> Value;
type Finalize = unsafe extern "C" fn(Env, *mut c_void, *mut c_void);

const NAPI_OK: Status = 0;

/// The Node-API functions used here, found in the running executable (deno
/// exports them) rather than linked, so the library also loads without them.
struct Napi {
    create_function: unsafe extern "C" fn(
        Env,
        *const c_char,
        usize,
        Callback,
        *mut c_void,
        *mut Value,
    ) -> Status,
    set_named_property: unsafe extern "C" fn(Env, Value, *const c_char, Value) -> Status,
    get_cb_info: unsafe extern "C" fn(
        Env,
        CallbackInfo,
        *mut usize,
        *mut Value,
        *mut Value,
        *mut *mut c_void,
    ) -> Status,
    get_value_uint32: unsafe extern "C" fn(Env, Value, *mut u32) -> Status,
    create_external_arraybuffer: unsafe extern "C" fn(
        Env,
        *mut c_void,
        usize,
        Option<Finalize>,
        *mut c_void,
        *mut Value,
    ) -> Status,
    throw_error: unsafe extern "C" fn(Env, *const c_char, *const c_char) -> Status,
}

fn napi() -> Result<&'static Napi, String> {
    static NAPI: OnceLock<Result<Napi, String>> = OnceLock::new();
    NAPI.get_or_init(|| {
        // SAFETY: each symbol, where present, is the Node-API function of
        // that name, whose C signature the field spells.
        unsafe {
            Ok(Napi {
                create_function: symbol(c"napi_create_function")?,
                set_named_property: symbol(c"napi_set_named_property")?,
                get_cb_info: symbol(c"napi_get_cb_info")?,
                get_value_uint32: symbol(c"napi_get_value_uint32")?,
                create_external_arraybuffer: symbol(c"napi_create_external_arraybuffer")?,
                throw_error: symbol(c"napi_throw_error")?,
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// # Safety
/// `T` is the function pointer type of the symbol `name`.
unsafe fn symbol<T: Copy>(name: &CStr) -> Result<T, String> {
    // SAFETY: dlsym with a valid C string; RTLD_DEFAULT searches the
    // executable and its libraries.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if address.is_null() {
        return Err(format!("Node-API function {name:?} not found"));
    }
    // SAFETY: a non-null symbol of type `T`, per the contract.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&address) })
}

/// Registers the addon's functions; Deno calls this from `process.dlopen`.
///
/// # Safety
/// Called by a Node-API host with a valid `env` and `exports`.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: Env, exports: Value) -> Value {
    let registered = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let napi = napi()?;
        let functions: [(&CStr, Callback); 2] = [(c"frame", frame), (c"loan", loan)];
        for (name, callback) in functions {
            let mut function = std::ptr::null_mut();
            // SAFETY: valid env, NUL-terminated name, out-pointer on the stack.
            let status = unsafe {
                (napi.create_function)(
                    env,
                    name.as_ptr(),
                    usize::MAX, // NAPI_AUTO_LENGTH
                    callback,
                    std::ptr::null_mut(),
                    &mut function,
                )
            };
            let status = if status == NAPI_OK {
                // SAFETY: as above; `function` was just created.
                unsafe { (napi.set_named_property)(env, exports, name.as_ptr(), function) }
            } else {
                status
            };
            if status != NAPI_OK {
                return Err(format!(
                    "cannot register {name:?}: Node-API status {status}"
                ));
            }
        }
        Ok(())
    }));
    match registered {
        Ok(Ok(())) => exports,
        Ok(Err(message)) => throw(env, &message),
        Err(panic) => throw(
            env,
            &format!("libplexus_deno panicked: {}", panic_text(&panic)),
        ),
    }
}

/// `frame(index)`: the input data of frame `index` of the open call.
unsafe extern "C" fn frame(env: Env, info: CallbackInfo) -> Value {
    respond(env, || {
        // SAFETY: `info` comes from the host for this call.
        let [index] = unsafe { indices(env, info, "frame(index)") }?;
        active()?.frame_memory(index as usize)
    })
}

/// `loan(processor, port)`: the unsent buffer loaned on output `port` of
/// `processor`.
unsafe extern "C" fn loan(env: Env, info: CallbackInfo) -> Value {
    respond(env, || {
        // SAFETY: `info` comes from the host for this call.
        let [processor, port] = unsafe { indices(env, info, "loan(processor, port)") }?;
        active()?.loan_memory(processor, port as usize)
    })
}

/// The `N` numeric arguments of a call to `what`.
///
/// # Safety
/// `info` is the callback info the host passed for this call.
unsafe fn indices<const N: usize>(
    env: Env,
    info: CallbackInfo,
    what: &str,
) -> Result<[u32; N], String> {
    let napi = napi()?;
    let mut argc = N;
    let mut argv = [std::ptr::null_mut(); N];
    // SAFETY: `info` comes from the host for this call; room for `N`
    // arguments.
    let status = unsafe {
        (napi.get_cb_info)(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if status != NAPI_OK || argc < N {
        return Err(format!("{what} needs {N} numbers"));
    }
    let mut numbers = [0u32; N];
    for (value, number) in argv.iter().zip(&mut numbers) {
        // SAFETY: `value` is a value of this call.
        if unsafe { (napi.get_value_uint32)(env, *value, number) } != NAPI_OK {
            return Err(format!("{what}: an argument is not a number"));
        }
    }
    Ok(numbers)
}

/// Returns an external `ArrayBuffer` over the memory `find` names, or
/// throws its error in JavaScript.
fn respond(env: Env, find: impl FnOnce() -> Result<(DataPtr, usize), String>) -> Value {
    let made = catch_unwind(AssertUnwindSafe(|| -> Result<Value, String> {
        let (data, len) = find()?;
        if len == 0 || data.0.is_null() {
            return Err("no memory to view (empty buffers are not viewed)".into());
        }
        let mut buffer = std::ptr::null_mut();
        // SAFETY: `data` is valid for `len` bytes while the call is open
        // (see `bridge`); V8 only calls the no-op finalizer, never frees.
        let status = unsafe {
            (napi()?.create_external_arraybuffer)(
                env,
                data.0.cast(),
                len,
                Some(keep),
                std::ptr::null_mut(),
                &mut buffer,
            )
        };
        if status != NAPI_OK {
            return Err(format!(
                "cannot make an ArrayBuffer: Node-API status {status}"
            ));
        }
        Ok(buffer)
    }));
    match made {
        Ok(Ok(buffer)) => buffer,
        Ok(Err(message)) => throw(env, &message),
        Err(panic) => throw(
            env,
            &format!("libplexus_deno panicked: {}", panic_text(&panic)),
        ),
    }
}

/// The finalizer of external buffers: the memory belongs to the runtime.
unsafe extern "C" fn keep(_env: Env, _data: *mut c_void, _hint: *mut c_void) {}

/// Throws `message` as a JavaScript `Error`; returns the "no value" result.
fn throw(env: Env, message: &str) -> Value {
    if let Ok(napi) = napi() {
        let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: valid env and NUL-terminated message.
        unsafe { (napi.throw_error)(env, std::ptr::null(), text.as_ptr()) };
    }
    std::ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outside a Node-API host (this test binary) the functions are not
    /// found: registration fails cleanly instead of calling through null.
    #[test]
    fn without_a_node_api_host_registration_fails_cleanly() {
        let missing = napi().err().expect("no Node-API in a test binary");
        assert!(missing.contains("napi_create_function"), "{missing}");
        // SAFETY: with no Node-API functions found, registration returns
        // before it would use `env` or `exports`.
        let exports =
            unsafe { napi_register_module_v1(std::ptr::null_mut(), std::ptr::null_mut()) };
        assert!(exports.is_null());
    }
}
