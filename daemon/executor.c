/*
 * executor.c - wharfd's worker threads: the bounded job queue, deploys
 * (compile + store) and invocations (instantiate from the pool, call,
 * reset).  Guest code runs here and nowhere else.
 *
 * Each worker owns one wh_exec_t, one linker (WASI preview1 defined
 * dynamically: each invocation gets its own WASI context through the
 * exec's user pointer) and two memfds that capture a core module's
 * stdout and stderr, emptied after every invocation.  Its two component
 * linkers have WASI 0.2 defined the same way (wh_wasi_p2_define): a
 * component's invocation gets a WASI 0.2 context attached to the exec,
 * which captures stdout and stderr itself; the reply carries them under
 * the same keys and with the same bound as a core module's.
 *
 * A finished job goes back to the I/O thread with event_active on the
 * job's own event; the worker never touches the HTTP request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon.h"
#include "wasi_p1.h"
#include "wh_wasi_p2.h"

#define CAPTURE_MAX (1u << 20)   /* bytes of stdout/stderr kept per call */

typedef struct worker {
  wh_daemon_t *d;
  wh_exec_t *x;
  wh_linker_t *linker;
  /* components: the host functions, and the same with missing imports
   * linked to trapping stubs (deploy option stub_missing_imports) */
  wh_cm_linker_t *cm_strict, *cm_stub;
  int out_fd, err_fd;
  uint32_t index;
} worker_t;

static pthread_mutex_t deploy_lock = PTHREAD_MUTEX_INITIALIZER;

void wh_job_free(wh_job_t *job) {
  if (!job) return;
  free(job->body);
  free(job->options);
  free(job->export_name);
  if (job->args) json_decref(job->args);
  if (job->reply) json_decref(job->reply);
  if (job->dep) wh_dep_unref(job->dep);
  free(job);
}

static json_t *error_json(const char *code, const char *msg) {
  return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

static void fail(wh_job_t *job, int status, const char *code, const char *msg) {
  job->status = status;
  job->reply = error_json(code, msg);
}

/* ---- values ------------------------------------------------------------- */

/* JSON for a result: i64 beyond +-2^53 and non-finite floats as strings. */
static json_t *val_json(const wh_val_t *v) {
  switch (v->type) {
  case WH_I32: return json_integer(v->of.i32);
  case WH_I64:
    if (v->of.i64 > (1ll << 53) || v->of.i64 < -(1ll << 53)) {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", (long long)v->of.i64);
      return json_string(buf);
    }
    return json_integer(v->of.i64);
  case WH_F32:
  case WH_F64: {
    double f = v->type == WH_F32 ? v->of.f32 : v->of.f64;
    if (f != f) return json_string("NaN");
    if (f == 1.0 / 0.0) return json_string("Infinity");
    if (f == -1.0 / 0.0) return json_string("-Infinity");
    return json_real(f);
  }
  default: return v->of.ref ? json_string("ref") : json_null();
  }
}

const char *wh_trap_api_code(wh_trap_code_t t) {
  switch (t) {
  case WH_TRAP_UNREACHABLE: return "unreachable";
  case WH_TRAP_MEM_OOB: return "out_of_bounds_memory_access";
  case WH_TRAP_TABLE_OOB: return "out_of_bounds_table_access";
  case WH_TRAP_INDIRECT_NULL: return "uninitialized_element";
  case WH_TRAP_INDIRECT_TYPE: return "indirect_call_type_mismatch";
  case WH_TRAP_UNDEFINED_ELEM: return "undefined_element";
  case WH_TRAP_DIV_ZERO: return "integer_divide_by_zero";
  case WH_TRAP_INT_OVERFLOW: return "integer_overflow";
  case WH_TRAP_BAD_CONVERSION: return "invalid_conversion_to_integer";
  case WH_TRAP_STACK_EXHAUSTED: return "call_stack_exhausted";
  case WH_TRAP_OUT_OF_FUEL: return "out_of_fuel";
  case WH_TRAP_DEADLINE: return "deadline_exceeded";
  case WH_TRAP_INTERRUPTED: return "interrupted";
  case WH_TRAP_NULL_REF: return "null_reference";
  case WH_TRAP_EXIT: return "exit";
  default: return "host_trap";
  }
}

/* A JSON string of `n` bytes of guest output, each invalid UTF-8 byte
 * replaced by U+FFFD (guests write what they like). */
static json_t *lossy_string(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j) return j;
  char *out = malloc(n * 3 + 1);
  size_t o = 0;
  if (!out) return NULL;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4 : 0;
    json_t *probe = len && i + len <= n ? json_stringn(s + i, len) : NULL;
    if (probe) {
      memcpy(out + o, s + i, len);
      o += len;
      i += len;
      json_decref(probe);
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  j = json_stringn(out, o);
  free(out);
  return j;
}

/* Reads and empties a capture memfd; NULL when nothing was written. */
static json_t *take_capture(int fd, bool *truncated) {
  off_t end = lseek(fd, 0, SEEK_CUR);
  json_t *s = NULL;
  *truncated = false;
  if (end <= 0) return NULL;     /* nothing written: one syscall, no reset */
  size_t n = (size_t)end > CAPTURE_MAX ? CAPTURE_MAX : (size_t)end;
  *truncated = (size_t)end > CAPTURE_MAX;
  char *buf = malloc(n);
  ssize_t got = buf ? pread(fd, buf, n, 0) : -1;
  if (got > 0) s = lossy_string(buf, (size_t)got);
  free(buf);
  /* empty again for the next call */
  (void)!ftruncate(fd, 0);
  lseek(fd, 0, SEEK_SET);
  return s;
}

/* ---- jobs ------------------------------------------------------------------ */

/* DELETE /v1/components/NAME: under deploy_lock, so it orders with
 * deploys of the same name (the registry, the live table and the cache
 * pin change together). */
static void run_delete(worker_t *w, wh_job_t *job) {
  wh_daemon_t *d = w->d;
  const char *tenant = job->tenant->name;
  pthread_mutex_lock(&deploy_lock);
  int rc = wh_reg_delete(d->reg, tenant, job->name);
  if (rc == 0) {
    wh_deps_remove(d, tenant, job->name);   /* running calls keep their reference */
    wh_deps_unpin(d, tenant, job->name);
  }
  pthread_mutex_unlock(&deploy_lock);
  if (rc == WH_ENOTFOUND) {
    fail(job, 404, "not_found", "no component of that name");
  } else if (rc == WH_EBUSY) {   /* a linked component depends on it (docs/API.md "Links") */
    char by[WH_REG_NAME_MAX + 1] = "another component", msg[400];
    wh_reg_linked_by(d->reg, tenant, job->name, by);
    snprintf(msg, sizeof msg, "%s links to %s; redeploy or delete %s first", by, job->name, by);
    fail(job, 409, "linked", msg);
  } else if (rc) {
    fail(job, 500, "storage_error", "cannot update the registry");
  } else {
    job->status = 200;
    job->reply = json_pack("{s:s}", "deleted", job->name);
  }
}

static void run_deploy(worker_t *w, wh_job_t *job) {
  wh_daemon_t *d = w->d;
  wh_diag_t diag;
  char digest[65];
  if (!wh_reg_sha256_hex(job->body, job->body_len, digest)) {
    fail(job, 500, "internal", "cannot compute SHA-256");
    return;
  }
  wh_diag_clear(&diag);
  wh_deployment_t *dep =
      wh_deps_compile(d, NULL, digest, job->options, job->body, job->body_len, &diag);
  if (!dep) {
    char msg[400];
    bool comp = job->body_len >= 8 && job->body[6] == 1;
    if (diag.offset >= 0)
      snprintf(msg, sizeof msg, "%s (at byte offset %lld)", diag.msg, diag.offset);
    else
      snprintf(msg, sizeof msg, "%s", diag.msg);
    fail(job, diag.code == WH_ENOMEM ? 500 : diag.code == WH_EUNSUPPORTED ? 415 : 400,
         diag.code == WH_EUNSUPPORTED ? "unsupported"
         : comp                       ? "invalid_component"
                                      : "invalid_module",
         msg);
    return;
  }
  /* deploy-time links (?link=): resolved and type-checked first */
  const char *lcode = NULL;
  char lwhy[1600];
  int lstatus = dep->nlinks ? wh_deps_link(d, dep, job->tenant->name, &lcode, lwhy, sizeof lwhy) : 0;
  if (lstatus) {
    fail(job, lstatus, lcode, lwhy);
    wh_dep_unref(dep);
    return;
  }
  int link = dep->component
                 ? wh_deps_check_imports(dep, dep->stub_missing_imports ? w->cm_stub
                                                                        : w->cm_strict, &diag)
                 : wh_linker_check(w->linker, dep->module, &diag);
  if (link != 0) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s%s", diag.msg,
             dep->component && !dep->stub_missing_imports
                 ? " (deploy with ?stub_missing_imports=true to link them to functions that "
                   "trap when called)"
                 : "");
    fail(job, 400, "unresolvable_import", msg);
    wh_dep_unref(dep);
    return;
  }
  pthread_mutex_lock(&deploy_lock);   /* quota check and commit together */
  uint32_t have = 0;
  wh_reg_entry_t existing;
  bool redeploy = wh_reg_get(d->reg, job->tenant->name, job->name, &existing) == 0;
  pthread_rwlock_rdlock(&d->cfg_lock);
  uint32_t quota = job->tenant->cfg.limits.max_components;
  pthread_rwlock_unlock(&d->cfg_lock);
  int rc = wh_reg_count(d->reg, job->tenant->name, &have);
  if (rc == 0 && !redeploy && have >= quota) {
    pthread_mutex_unlock(&deploy_lock);
    char msg[128];
    snprintf(msg, sizeof msg, "the tenant has %u components, its limit", have);
    fail(job, 403, "quota_exceeded", msg);
    wh_dep_unref(dep);
    return;
  }
  wh_reg_entry_t e;
  if (rc == 0)
    rc = wh_reg_deploy_linked(d->reg, job->tenant->name, job->name, job->body, job->body_len,
                              digest, job->options, dep->links, dep->nlinks, &e, &diag);
  if (rc == 0) {
    dep->reg = e;
    wh_dep_ref(dep);
    wh_deps_put(d, dep);
    wh_deps_pin(d, dep);   /* under deploy_lock: pins follow deploys in order */
  }
  pthread_mutex_unlock(&deploy_lock);
  if (rc == WH_ENOTFOUND && dep->nlinks) {   /* a link target deleted meanwhile */
    fail(job, 409, "link_target_gone", diag.msg);
    wh_dep_unref(dep);
    return;
  }
  if (rc) {
    wh_log(WH_LOG_ERROR, "deploy %s/%s: %s", job->tenant->name, job->name,
           diag.msg[0] ? diag.msg : wh_strerror(rc));
    fail(job, 500, "storage_error", "the deployment could not be stored");
    wh_dep_unref(dep);
    return;
  }
  atomic_fetch_add(&d->deploys, 1);
  atomic_fetch_add(&d->compile_us_total, dep->compile_us);
  json_t *desc = wh_deps_describe(dep);
  json_t *compile = json_object();
  if (compile) {
    wh_deps_tier_json(dep, compile);
    json_object_set_new(compile, "ms", json_real(dep->compile_us / 1000.0));
    json_object_set_new(compile, "cached", json_boolean(dep->cached));
  }
  json_object_set_new(desc, "compile", compile);
  json_object_set_new(desc, "created_ms", json_integer(dep->reg.created_ms));
  wh_dep_unref(dep);
  job->status = 201;
  job->reply = desc;
}

/* Converts job->args (checked by the I/O thread) into values. */
static int json_to_vals(const char *sig, json_t *args, wh_val_t *out) {
  for (size_t i = 0; sig[i]; i++) {
    json_t *a = json_array_get(args, i);
    wh_val_t *v = &out[i];
    switch (sig[i]) {
    case 'i': v->type = WH_I32; v->of.i32 = (int32_t)(uint32_t)json_integer_value(a); break;
    case 'I':
      v->type = WH_I64;
      if (json_is_string(a)) {
        const char *s = json_string_value(a);
        v->of.i64 = s[0] == '-' ? strtoll(s, NULL, 10) : (int64_t)strtoull(s, NULL, 10);
      } else {
        v->of.i64 = json_integer_value(a);
      }
      break;
    case 'f':
    case 'F': {
      double f;
      if (json_is_string(a)) {
        const char *s = json_string_value(a);
        f = strcmp(s, "NaN") == 0 ? 0.0 / 0.0 : s[0] == '-' ? -1.0 / 0.0 : 1.0 / 0.0;
      } else {
        f = json_number_value(a);
      }
      if (sig[i] == 'f') {
        v->type = WH_F32;
        v->of.f32 = (float)f;
      } else {
        v->type = WH_F64;
        v->of.f64 = f;
      }
      break;
    }
    default: return WH_EINVAL;
    }
  }
  return 0;
}

/* The trap of a failed component call: a trap in core wasm code keeps
 * its kind and backtrace (a host function or missing-import stub called
 * from core code is "host_trap"); the canonical ABI's own checks while
 * lifting or lowering (invalid UTF-8, a bad discriminant, realloc out of
 * bounds, ...) answer "component_trap". */
static json_t *cm_trap_reply(wh_daemon_t *d, wh_job_t *job, wh_exec_t *x, const char *msg) {
  const char *emsg = NULL, *bt = NULL;
  wh_trap_code_t t = wh_exec_trap(x, &emsg, &bt);
  bool core = t != WH_TRAP_NONE && emsg && msg && strcmp(emsg, msg) == 0;
  const char *code = core ? wh_trap_api_code(t) : "component_trap";
  json_t *reply = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
                            msg && *msg ? msg : "trap");
  if (core && bt && bt[0])
    json_object_set_new(json_object_get(reply, "error"), "backtrace", json_string(bt));
  if (core && t < WH__TRAP_COUNT) atomic_fetch_add(&d->traps_by_kind[t], 1);
  job->trap_kind = code;
  return reply;
}

/* Arguments as an array: an object names the parameters. */
static json_t *args_array(const wh_cm_component_t *c, wh_cm_type_ref_t fn, json_t *args,
                          char *why, size_t n) {
  if (json_is_array(args)) return json_incref(args);
  uint32_t np = wh_cm_type_field_count(c, fn);
  json_t *a = json_array();
  for (uint32_t i = 0; a && i < np; i++) {
    const char *pname = NULL;
    wh_cm_type_ref_t pt;
    wh_cm_type_field(c, fn, i, &pname, &pt);
    json_t *v = pname ? json_object_get(args, pname) : NULL;
    if (!v) {
      snprintf(why, n, "args.%s: missing", pname ? pname : "?");
      json_decref(a);
      return NULL;
    }
    json_array_append(a, v);
  }
  const char *key;
  json_t *v;
  json_object_foreach(args, key, v) {
    bool known = false;
    for (uint32_t i = 0; i < np && !known; i++) {
      const char *pname = NULL;
      wh_cm_type_ref_t pt;
      wh_cm_type_field(c, fn, i, &pname, &pt);
      known = pname && strcmp(pname, key) == 0;
    }
    if (!known) {
      snprintf(why, n, "args.%.100s: the function has no parameter of that name", key);
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

/* The reply to a component that called wasi:cli/exit (while being
 * instantiated or called), as for a core module's proc_exit: status 0 is
 * a success whose result is null (the export returned nothing); any other
 * status is 422 "exit" with exit_status. */
static json_t *cm_exit_reply(wh_daemon_t *d, wh_job_t *job, wh_exec_t *x,
                             const wh_wasi_p2_t *p2) {
  int status;
  if (!wh_wasi_p2_exited(p2, &status)) status = wh_exec_exit_status(x);
  if (status == 0) {
    job->status = 200;
    return json_pack("{s:n}", "result");
  }
  char msg[64];
  snprintf(msg, sizeof msg, "exit with status %d", status);
  job->status = 422;
  job->trap_kind = wh_trap_api_code(WH_TRAP_EXIT);
  atomic_fetch_add(&d->traps_by_kind[WH_TRAP_EXIT], 1);
  return json_pack("{s:{s:s, s:s}, s:i}", "error", "code", job->trap_kind, "message", msg,
                   "exit_status", status);
}

/* Instantiates the job's component from the pool and calls the export,
 * with `p2` (borrowed) attached to the exec as its WASI 0.2 context;
 * fills job->status and returns the reply (NULL after fail()). */
static json_t *invoke_component(worker_t *w, wh_job_t *job, const wh_wasi_p2_t *p2) {
  wh_daemon_t *d = w->d;
  wh_exec_t *x = w->x;
  const wh_deployment_t *dep = job->dep;
  const wh_cm_component_t *c = dep->component;
  wh_cm_instance_t *inst = NULL;
  wh_cm_val *args = NULL, result;
  size_t nargs = 0;
  bool have_result = false;
  json_t *reply = NULL, *jargs = NULL;
  wh_diag_t diag;
  char why[300];
  memset(&result, 0, sizeof result);
  wh_diag_clear(&diag);
  wh_cm_instance_t **linked = NULL;   /* instances of the components dep links to */
  size_t nlinked = 0;
  int rc = wh_deps_instantiate(dep, w->cm_strict, w->cm_stub, x, wh_pool_allocator(d->pool), &inst,
                               &linked, &nlinked, &diag);
  if (rc == WH_ELIMIT) {
    fail(job, 503, "pool_exhausted", "no free instance slot; retry shortly");
    goto out;
  } else if (rc == WH_ERANGE) {
    fail(job, 422, "memory_limit", diag.msg);
    goto out;
  } else if (rc == WH_ETRAP) {
    job->status = 422;
    reply = cm_trap_reply(d, job, x, diag.msg);
    goto out;
  } else if (rc == WH_EEXIT) {   /* a start function called wasi:cli/exit */
    reply = cm_exit_reply(d, job, x, p2);
    goto out;
  } else if (rc) {
    fail(job, 500, "instantiation_failed", diag.msg);
    goto out;
  }
  wh_cm_func_t *f = NULL;
  rc = wh_cm_instance_func_handle(inst, job->export_name, &f);
  if (rc) {
    snprintf(why, sizeof why, rc == WH_EEXISTS
             ? "\"%.100s\" is ambiguous: name it as INTERFACE#FUNCTION"
             : "no exported function \"%.100s\"", job->export_name);
    fail(job, rc == WH_EEXISTS ? 400 : 404, rc == WH_EEXISTS ? "bad_request" : "export_not_found",
         why);
    goto out;
  }
  wh_cm_type_ref_t fn = wh_cm_func_type(f);
  jargs = args_array(c, fn, job->args, why, sizeof why);
  if (!jargs) {
    fail(job, 400, "bad_args", why);
    goto out;
  }
  wh_diag_clear(&diag);
  if ((rc = wh_cm_json_args(c, fn, jargs, &args, &nargs, &diag)) != 0) {
    fail(job, rc == WH_ENOMEM ? 500 : 400, rc == WH_ENOMEM ? "internal" : "bad_args", diag.msg);
    goto out;
  }
  rc = wh_cm_call_func(inst, f, args, nargs, &result, 1, x);
  if (rc == WH_ETRAP) {
    job->status = 422;
    reply = cm_trap_reply(d, job, x, wh_cm_instance_trap(inst));
    goto out;
  }
  if (rc == WH_EEXIT) {
    reply = cm_exit_reply(d, job, x, p2);
    goto out;
  }
  if (rc) {
    fail(job, rc == WH_EINVAL ? 400 : 500, rc == WH_EINVAL ? "bad_args" : "internal",
         wh_cm_instance_trap(inst)[0] ? wh_cm_instance_trap(inst) : wh_strerror(rc));
    goto out;
  }
  have_result = true;
  json_t *jres = NULL;
  wh_diag_clear(&diag);
  if (wh_cm_json_result(c, fn, &result, &jres, &diag) != 0) {
    fail(job, 500, "internal", diag.msg);
    goto out;
  }
  job->status = 200;
  reply = json_pack("{s:o}", "result", jres);
out:
  if (have_result) wh_cm_val_fini(&result);
  wh_cm_vals_free(args, nargs);
  json_decref(jargs);
  wh_cm_instance_free(inst);
  wh_deps_free_linked(linked, nlinked);
  return reply;
}

/* Instantiates the job's core module from the pool and calls the export;
 * fills job->status and returns the reply (NULL after fail()). */
static json_t *invoke_module(worker_t *w, wh_job_t *job) {
  wh_daemon_t *d = w->d;
  wh_exec_t *x = w->x;
  wh_instance_t *inst = NULL;
  wh_diag_t diag;
  json_t *reply = NULL;
  int rc = wh_linker_instantiate_in(w->linker, job->dep->module, x, wh_pool_allocator(d->pool),
                                    &inst, &diag);
  wh_val_t args[64], results[64];
  const char *ps = "", *rs = "";
  if (rc == 0) {
    wh_func_t *f = wh_instance_func(inst, job->export_name);
    if (!f) {
      fail(job, 404, "export_not_found", "no exported function of that name");
      goto out;
    }
    wh_func_type(f, &ps, &rs);
    if (strlen(ps) > 64 || strlen(rs) > 64 || json_to_vals(ps, job->args, args)) {
      fail(job, 400, "bad_args", "the export's signature cannot be called over HTTP");
      goto out;
    }
    rc = wh_call(x, f, args, strlen(ps), results, strlen(rs));
  } else if (rc == WH_ELIMIT) {
    fail(job, 503, "pool_exhausted", "no free instance slot; retry shortly");
    goto out;
  } else if (rc == WH_ERANGE) {
    fail(job, 422, "memory_limit", diag.msg);
    goto out;
  } else if (rc != WH_ETRAP && rc != WH_EEXIT) {
    fail(job, 500, "instantiation_failed", diag.msg);
    goto out;
  }
  if (rc == 0 || (rc == WH_EEXIT && wh_exec_exit_status(x) == 0)) {
    json_t *result;
    size_t nr = strlen(rs);
    if (rc == WH_EEXIT || nr == 0) result = json_null();
    else if (nr == 1) result = val_json(&results[0]);
    else {
      result = json_array();
      for (size_t i = 0; i < nr; i++) json_array_append_new(result, val_json(&results[i]));
    }
    job->status = 200;
    reply = json_pack("{s:o}", "result", result);
  } else {
    const char *msg = NULL, *bt = NULL;
    wh_trap_code_t t = wh_exec_trap(x, &msg, &bt);
    job->trap_kind = wh_trap_api_code(t);
    job->status = 422;
    reply = json_pack("{s:{s:s, s:s}}", "error", "code", wh_trap_api_code(t), "message",
                      msg ? msg : "trap");
    if (bt && bt[0]) json_object_set_new(json_object_get(reply, "error"), "backtrace", json_string(bt));
    if (rc == WH_EEXIT) json_object_set_new(reply, "exit_status", json_integer(wh_exec_exit_status(x)));
    if (t < WH__TRAP_COUNT) atomic_fetch_add(&d->traps_by_kind[t], 1);
  }
out:
  wh_instance_free(inst);
  return reply;
}

/* A component's captured output (`p`, `n` bytes, borrowed from its
 * context) into the reply under the keys a core module's output gets:
 * `key`, or `cut_key` with the first CAPTURE_MAX bytes once cut.  The
 * context keeps CAPTURE_MAX bytes plus its truncation marker, which is
 * dropped here so both kinds of guest read the same. */
static void put_p2_capture(json_t *reply, const char *key, const char *cut_key,
                           const uint8_t *p, size_t n, bool cut) {
  const size_t mlen = sizeof WH_WASI_P2_TRUNCATED_MARKER - 1;
  if (cut && n >= mlen && memcmp(p + n - mlen, WH_WASI_P2_TRUNCATED_MARKER, mlen) == 0)
    n -= mlen;
  if (n > CAPTURE_MAX) {
    n = CAPTURE_MAX;
    cut = true;
  }
  if (n == 0 && !cut) return;
  json_t *s = lossy_string((const char *)p, n);
  if (s) json_object_set_new(reply, cut ? cut_key : key, s);
}

static void run_invoke(worker_t *w, wh_job_t *job) {
  wh_daemon_t *d = w->d;
  wh_exec_t *x = w->x;
  wh_diag_t diag;
  const wh_deployment_t *dep = job->dep;
  /* WASI: argv[0] is the name, then the deployment's args and env */
  const char *argv_small[16];
  const char **argv = dep->nargs + 1 <= 16 ? argv_small : malloc((dep->nargs + 1) * sizeof *argv);
  if (!argv) {
    fail(job, 500, "internal", "out of memory");
    return;
  }
  argv[0] = dep->reg.name;
  for (size_t i = 0; i < dep->nargs; i++) argv[i + 1] = dep->args[i];
  /* a core module gets a preview1 context writing to the worker's
   * memfds; a component a WASI 0.2 one capturing its own output */
  wh_wasi_t *wasi = NULL;
  wh_wasi_p2_t *p2 = NULL;
  wh_diag_clear(&diag);
  if (dep->component) {
    wh_wasi_p2_config_t pc;
    wh_wasi_p2_config_init(&pc);
    pc.argv = argv;
    pc.argc = dep->nargs + 1;
    pc.envp = (const char *const *)dep->envp;
    pc.envc = dep->envc;
    pc.stdout_max = pc.stderr_max = CAPTURE_MAX + sizeof WH_WASI_P2_TRUNCATED_MARKER - 1;
    p2 = wh_wasi_p2_new(&pc, &diag);
  } else if (dep->wasi_p1) {
    wh_wasi_config_t wc;
    wh_wasi_config_init(&wc);
    wc.argv = argv;
    wc.argc = dep->nargs + 1;
    wc.envp = (const char *const *)dep->envp;
    wc.envc = dep->envc;
    wc.stdin_fd = -1;
    wc.stdout_fd = w->out_fd;
    wc.stderr_fd = w->err_fd;
    wasi = wh_wasi_new(&wc, &diag);
  }
  if (argv != argv_small) free(argv);
  if (!wasi && !p2 && (dep->component || dep->wasi_p1)) {
    wh_log(WH_LOG_ERROR, "invoke %s/%s: cannot set up WASI: %s", job->tenant->name,
           dep->reg.name, diag.msg[0] ? diag.msg : "out of memory");
    fail(job, 500, "internal", "cannot set up WASI");
    return;
  }
  if (p2) wh_wasi_p2_attach(x, p2);
  else wh_exec_set_user(x, wasi);
  wh_exec_set_fuel(x, job->fuel ? job->fuel : UINT64_MAX);
  wh_exec_set_deadline_ms(x, job->wall_ms);
  /* a module that could never fit a slot is the tenant's problem (422),
   * not a full pool (503) */
  uint64_t limit = job->memory_limit;
  if (!limit || limit > d->cfg.pool.max_memory_size) limit = d->cfg.pool.max_memory_size;
  wh_exec_set_memory_limit(x, limit);
  uint64_t t0 = wh_now_us();
  json_t *reply = p2 ? invoke_component(w, job, p2) : invoke_module(w, job);
  if (reply) {
    uint64_t elapsed = wh_now_us() - t0;
    uint64_t fuel_used = job->fuel ? wh_exec_fuel_consumed(x) : 0;
    if (job->status == 422) atomic_fetch_add(&job->tenant->traps, 1);
    json_object_set_new(reply, "fuel_consumed", json_integer((json_int_t)fuel_used));
    json_object_set_new(reply, "elapsed_us", json_integer((json_int_t)elapsed));
    bool cut;
    if (p2) {
      size_t n;
      const uint8_t *o = wh_wasi_p2_stdout(p2, &n, &cut);
      put_p2_capture(reply, "stdout", "stdout_truncated", o, n, cut);
      o = wh_wasi_p2_stderr(p2, &n, &cut);
      put_p2_capture(reply, "stderr", "stderr_truncated", o, n, cut);
    } else if (wasi) {    /* only WASI writes to the memfds */
      json_t *out_s = take_capture(w->out_fd, &cut);
      if (out_s) json_object_set_new(reply, cut ? "stdout_truncated" : "stdout", out_s);
      json_t *err_s = take_capture(w->err_fd, &cut);
      if (err_s) json_object_set_new(reply, cut ? "stderr_truncated" : "stderr", err_s);
    }
    job->reply = reply;
    atomic_fetch_add(&job->tenant->fuel, fuel_used);
    /* the token bucket pays for what the call burned */
    pthread_mutex_lock(&job->tenant->bucket_lock);
    job->tenant->bucket -= (double)fuel_used;
    pthread_mutex_unlock(&job->tenant->bucket_lock);
  }
  /* the instance is gone (invoke_component freed it): the context may go */
  if (p2) wh_wasi_p2_attach(x, NULL);
  else wh_exec_set_user(x, NULL);
  wh_wasi_p2_free(p2);
  if (wasi) {
    wh_wasi_free(wasi);
    bool ignored;
    json_t *drop = take_capture(w->out_fd, &ignored);   /* empty for the next call */
    if (drop) json_decref(drop);
    drop = take_capture(w->err_fd, &ignored);
    if (drop) json_decref(drop);
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  wh_daemon_t *d = w->d;
  /* guests yield the CPU to the I/O thread: /healthz stays quick while
   * every executor spins (lowering one's own priority needs no privilege).
   * nice 10 (bench/http, quiet machine): /healthz p99 4.4 ms with every
   * executor spinning, against 4.4-5.8 ms at nice 5; nice 19 gave 3.9 ms
   * but starved the workers of the CPUs they share with the I/O thread
   * (greet invokes 0.47 of nginx against 0.50) */
  if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
    wh_log(WH_LOG_DEBUG, "worker %u: cannot lower its priority", w->index);
  for (;;) {
    pthread_mutex_lock(&d->q_lock);
    while (!d->q_head && !d->q_stop) {
      d->q_idle++;
      pthread_cond_wait(&d->q_cond, &d->q_lock);
      d->q_idle--;
    }
    if (!d->q_head) {
      pthread_mutex_unlock(&d->q_lock);
      break;
    }
    wh_job_t *job = d->q_head;
    d->q_head = job->next;
    if (!d->q_head) d->q_tail = NULL;
    d->q_len--;
    pthread_mutex_unlock(&d->q_lock);

    if (job->kind == WH_JOB_DEPLOY) run_deploy(w, job);
    else if (job->kind == WH_JOB_DELETE) run_delete(w, job);
    else run_invoke(w, job);
    wh_http_job_complete(job);   /* hand back to the I/O thread */
  }
  wh_linker_free(w->linker);
  wh_cm_linker_free(w->cm_strict);
  wh_cm_linker_free(w->cm_stub);
  wh_exec_free(w->x);
  close(w->out_fd);
  close(w->err_fd);
  free(w);
  return NULL;
}

int wh_exec_start(wh_daemon_t *d, wh_diag_t *diag) {
  pthread_mutex_init(&d->q_lock, NULL);
  pthread_cond_init(&d->q_cond, NULL);
  d->workers = calloc(d->nworkers, sizeof *d->workers);
  if (!d->workers) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  for (uint32_t i = 0; i < d->nworkers; i++) {
    worker_t *w = calloc(1, sizeof *w);
    if (!w) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    w->d = d;
    w->index = i;
    w->x = wh_exec_new(d->engine);
    w->linker = wh_linker_new(d->engine);
    w->cm_strict = wh_cm_linker_new(d->engine);
    w->cm_stub = wh_cm_linker_new(d->engine);
    if (w->cm_stub) wh_cm_linker_trap_missing(w->cm_stub, true);
    w->out_fd = memfd_create("wharf-stdout", MFD_CLOEXEC);
    w->err_fd = memfd_create("wharf-stderr", MFD_CLOEXEC);
    /* WASI 0.2 on both component linkers: with stub_missing_imports only
     * what is neither WASI nor otherwise defined traps */
    if (!w->x || !w->linker || !w->cm_strict || !w->cm_stub || w->out_fd < 0 || w->err_fd < 0 ||
        wh_wasi_define_dynamic(w->linker) != 0 || wh_wasi_p2_define(w->cm_strict) != 0 ||
        wh_wasi_p2_define(w->cm_stub) != 0)
      return wh_diag_set(diag, WH_ENOMEM, -1, "cannot set up worker %u: %s", i, strerror(errno));
    if (pthread_create(&d->workers[i], NULL, worker_main, w) != 0)
      return wh_diag_set(diag, WH_ENOMEM, -1, "cannot start worker %u", i);
  }
  return 0;
}

void wh_exec_wake(wh_daemon_t *d) {
  pthread_mutex_lock(&d->q_lock);
  uint32_t n = d->q_idle < d->q_len ? d->q_idle : d->q_len;
  pthread_mutex_unlock(&d->q_lock);
  if (n > 1) pthread_cond_broadcast(&d->q_cond);
  else if (n == 1) pthread_cond_signal(&d->q_cond);
}

bool wh_exec_submit(wh_daemon_t *d, wh_job_t *job, bool *wake) {
  pthread_mutex_lock(&d->q_lock);
  if (d->q_len >= d->cfg.queue_depth || d->q_stop) {
    pthread_mutex_unlock(&d->q_lock);
    return false;
  }
  job->next = NULL;
  if (d->q_tail) d->q_tail->next = job;
  else d->q_head = job;
  d->q_tail = job;
  d->q_len++;
  /* a worker needs waking only if one is waiting (busy ones take the
   * next job when they finish); the caller does it (wh_exec_wake), once
   * for all the jobs it submits in a row, after the unlock */
  *wake = d->q_idle > 0;
  pthread_mutex_unlock(&d->q_lock);
  return true;
}

void wh_exec_stop(wh_daemon_t *d) {
  pthread_mutex_lock(&d->q_lock);
  d->q_stop = true;
  pthread_cond_broadcast(&d->q_cond);
  pthread_mutex_unlock(&d->q_lock);
  for (uint32_t i = 0; i < d->nworkers; i++) pthread_join(d->workers[i], NULL);
  free(d->workers);
  d->workers = NULL;
}
