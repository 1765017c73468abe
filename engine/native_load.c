/*
 * native_load.c - loads the native tier's ELF relocatable object (x86-64)
 * into one executable mapping.  A loader of our own rather than ORC's
 * LLJIT: loading a cached artifact is a parse, one mmap, a few hundred
 * relocations and one mprotect (microseconds, no LLVM at all on the load
 * path), the code lands in one range (what a guard-page signal handler
 * would test a faulting PC against), and there are no per-module
 * JITDylibs or symbol names to keep apart.
 *
 * Layout of the mapping (page-aligned; R+X once relocated):
 *
 *   +---------------------------+  map
 *   | allocated sections (.text,|  each at its own alignment
 *   |  .rodata*, .data.rel.ro)  |  (relro holds the function table:
 *   |                           |   written by relocation only)
 *   +---------------------------+
 *   | GOT: one address per      |  for GOTPCREL relocations
 *   |  external symbol          |
 *   +---------------------------+
 *   | stubs: jmp *GOT[i]        |  for calls to external symbols (libc
 *   +---------------------------+  memcpy/memset, libm rounding), which
 *                                  lie beyond a rel32's reach
 *
 * Generated code refers to the process only through its ctx argument, so
 * the only external symbols are the libc/libm functions LLVM may emit
 * calls to, and wh_defs, bound to the loading module's m->defs (a GOT
 * slot; see native.h); anything else is an error.  Writable sections other than
 * .data.rel.ro (none are generated) are refused.
 */
#include <elf.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "native.h"

typedef struct ext_sym {
  const char *name;
  void *addr;
} ext_sym_t;

static float wh_roundevenf(float a) { return roundevenf(a); }   /* glibc libm (C2x); clang 14 lacks the builtin */
static double wh_roundeven(double a) { return roundeven(a); }

static const ext_sym_t ext_syms[] = {
    {"memcpy", (void *)memcpy},     {"memmove", (void *)memmove},
    {"memset", (void *)memset},     {"ceil", (void *)ceil},
    {"ceilf", (void *)ceilf},       {"floor", (void *)floor},
    {"floorf", (void *)floorf},     {"trunc", (void *)trunc},
    {"truncf", (void *)truncf},     {"nearbyint", (void *)nearbyint},
    {"nearbyintf", (void *)nearbyintf}, {"rint", (void *)rint},
    {"rintf", (void *)rintf},       {"roundeven", (void *)wh_roundeven},
    {"roundevenf", (void *)wh_roundevenf}, {"sqrt", (void *)sqrt},
    {"sqrtf", (void *)sqrtf},       {"fmin", (void *)fmin},
    {"fminf", (void *)fminf},       {"fmax", (void *)fmax},
    {"fmaxf", (void *)fmaxf},
};

void wh__native_free(wh_native_code_t *nc) {
  if (!nc) return;
  if (nc->map) munmap(nc->map, nc->map_len);
  free(nc->obj);
  free(nc->entries);
  free(nc);
}

static bool section_is_relro(const uint8_t *obj, size_t len, const Elf64_Ehdr *eh,
                             const Elf64_Shdr *sh, uint32_t i) {
  if (eh->e_shstrndx >= eh->e_shnum) return false;
  const Elf64_Shdr *ss = &sh[eh->e_shstrndx];
  if (ss->sh_offset > len || ss->sh_size > len - ss->sh_offset || sh[i].sh_name >= ss->sh_size)
    return false;
  const char *name = (const char *)obj + ss->sh_offset + sh[i].sh_name;
  size_t max = ss->sh_size - sh[i].sh_name;
  return strnlen(name, max) < max && strncmp(name, ".data.rel.ro", 12) == 0;
}

/* WHARF_PERFMAP=1 in the environment: each loaded function is appended to
 * /tmp/perf-PID.map ("START SIZE NAME", perf's convention for JIT code),
 * so `perf report` names wasm functions instead of raw addresses.  f<i>
 * is function i's code ("wasm:NAME", NAME from the name section or
 * func[INDEX]), wh_e<i> its entry from the host ("wasm-entry:NAME"). */
static void perf_map(const wh_module_t *m, const uint8_t *base, const uint64_t *sec_addr,
                     uint32_t nsec, const Elf64_Sym *syms, uint32_t nsyms,
                     const char *strtab, uint64_t strtab_len) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
  pthread_mutex_lock(&lock);
  FILE *f = fopen(path, "a");
  for (uint32_t s = 1; f && s < nsyms; s++) {
    if (syms[s].st_name >= strtab_len || ELF64_ST_TYPE(syms[s].st_info) != STT_FUNC ||
        syms[s].st_shndx >= nsec || sec_addr[syms[s].st_shndx] == UINT64_MAX || !syms[s].st_size)
      continue;
    const char *name = strtab + syms[s].st_name, *kind;
    if (name[0] == 'f') kind = "wasm", name += 1;
    else if (strncmp(name, "wh_e", 4) == 0) kind = "wasm-entry", name += 4;
    else continue;
    char *end;
    unsigned long d = strtoul(name, &end, 10);
    if (*end || d >= m->nfuncs - m->nfunc_imports) continue;
    const wh_func_def_t *def = &m->defs[d];
    fprintf(f, "%lx %lx %s:", (unsigned long)(uintptr_t)(base + sec_addr[syms[s].st_shndx] +
                                                          syms[s].st_value),
            (unsigned long)syms[s].st_size, kind);
    if (def->name) fprintf(f, "%s\n", def->name);
    else fprintf(f, "func[%u]\n", def->index);
  }
  if (f) fclose(f);
  pthread_mutex_unlock(&lock);
}

#define BAD(msg) do { why = (msg); goto fail; } while (0)

static bool in_file(size_t len, uint64_t off, uint64_t n) { return off <= len && n <= len - off; }

int wh__native_load(wh_module_t *m, const uint8_t *obj, size_t len, wh_diag_t *diag) {
  const char *why = NULL;
  uint64_t *sec_addr = NULL;      /* load offset per section, or UINT64_MAX */
  uint32_t *ext_of = NULL;        /* per symbol: external index + 1, or 0 */
  wh_native_code_t *nc = calloc(1, sizeof *nc);
  if (!nc) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  nc->obj = malloc(len ? len : 1);
  nc->entries = calloc(ndefs ? ndefs : 1, sizeof *nc->entries);
  if (!nc->obj || !nc->entries) BAD("out of memory");
  memcpy(nc->obj, obj, len);
  nc->obj_len = len;
  nc->nentries = ndefs;
  obj = nc->obj;

  if (len < sizeof(Elf64_Ehdr)) BAD("object too short");
  Elf64_Ehdr eh;
  memcpy(&eh, obj, sizeof eh);
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_REL || eh.e_machine != EM_X86_64 ||
      eh.e_shentsize != sizeof(Elf64_Shdr))
    BAD("not an x86-64 ELF relocatable object");
  if (!in_file(len, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)) || eh.e_shnum == 0)
    BAD("section headers out of range");
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(obj + eh.e_shoff);
  if ((uintptr_t)sh % 8) BAD("misaligned section headers");
  uint32_t nsec = eh.e_shnum;

  /* the symbol table and its strings */
  const Elf64_Sym *syms = NULL;
  uint32_t nsyms = 0;
  const char *strtab = NULL;
  uint64_t strtab_len = 0;
  for (uint32_t i = 0; i < nsec; i++) {
    if (sh[i].sh_type != SHT_SYMTAB) continue;
    if (!in_file(len, sh[i].sh_offset, sh[i].sh_size) || sh[i].sh_entsize != sizeof(Elf64_Sym) ||
        sh[i].sh_link >= nsec || sh[i].sh_offset % 8)
      BAD("bad symbol table");
    syms = (const Elf64_Sym *)(obj + sh[i].sh_offset);
    nsyms = (uint32_t)(sh[i].sh_size / sizeof(Elf64_Sym));
    const Elf64_Shdr *ss = &sh[sh[i].sh_link];
    if (!in_file(len, ss->sh_offset, ss->sh_size) || ss->sh_size == 0 ||
        obj[ss->sh_offset + ss->sh_size - 1] != 0)
      BAD("bad string table");
    strtab = (const char *)obj + ss->sh_offset;
    strtab_len = ss->sh_size;
  }
  if (!syms) BAD("no symbol table");

  /* layout of the allocated sections */
  sec_addr = malloc(nsec * sizeof *sec_addr);
  ext_of = calloc(nsyms ? nsyms : 1, sizeof *ext_of);
  if (!sec_addr || !ext_of) BAD("out of memory");
  uint64_t size = 0;
  for (uint32_t i = 0; i < nsec; i++) {
    sec_addr[i] = UINT64_MAX;
    if (!(sh[i].sh_flags & SHF_ALLOC) || sh[i].sh_size == 0) continue;
    /* relro data (the function table) is written by relocation only */
    if ((sh[i].sh_flags & SHF_WRITE) && !section_is_relro(obj, len, &eh, sh, i))
      BAD("writable section in native code");
    uint64_t al = sh[i].sh_addralign ? sh[i].sh_addralign : 1;
    if (al & (al - 1) || al > 4096) BAD("bad section alignment");
    if (sh[i].sh_type != SHT_NOBITS && !in_file(len, sh[i].sh_offset, sh[i].sh_size))
      BAD("section out of range");
    if (sh[i].sh_size > (1ull << 32)) BAD("section too large");
    size = (size + al - 1) & ~(al - 1);
    sec_addr[i] = size;
    size += sh[i].sh_size;
  }
  /* external symbols: a GOT slot and a stub each */
  uint32_t next = 0;
  for (uint32_t s = 1; s < nsyms; s++) {
    if (syms[s].st_shndx != SHN_UNDEF) continue;
    if (syms[s].st_name >= strtab_len) BAD("bad symbol name");
    const char *name = strtab + syms[s].st_name;
    if (!*name) continue;
    ext_of[s] = UINT32_MAX;
    for (uint32_t k = 0; k < sizeof ext_syms / sizeof *ext_syms; k++)
      if (strcmp(name, ext_syms[k].name) == 0) ext_of[s] = ++next;
    if (strcmp(name, "wh_defs") == 0) ext_of[s] = ++next;
    if (ext_of[s] == UINT32_MAX) {
      wh_diag_set(diag, WH_ECORRUPT, -1, "native code refers to unknown symbol %s", name);
      why = "";
      goto fail;
    }
  }
  size = (size + 15) & ~15ull;
  uint64_t got = size;
  size += 8ull * next;
  uint64_t stubs = size;
  size += 16ull * next;
  long pg = sysconf(_SC_PAGESIZE);
  size_t map_len = (size_t)((size + (uint64_t)pg - 1) & ~((uint64_t)pg - 1));
  if (map_len == 0) map_len = (size_t)pg;
  void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) BAD("cannot map native code");
  nc->map = map;
  nc->map_len = map_len;
  uint8_t *base = map;
  for (uint32_t i = 0; i < nsec; i++)
    if (sec_addr[i] != UINT64_MAX && sh[i].sh_type != SHT_NOBITS)
      memcpy(base + sec_addr[i], obj + sh[i].sh_offset, sh[i].sh_size);
  for (uint32_t s = 1; s < nsyms; s++) {
    if (!ext_of[s]) continue;
    const char *name = strtab + syms[s].st_name;
    uint32_t k = ext_of[s] - 1;
    void *addr = NULL;
    for (uint32_t j = 0; j < sizeof ext_syms / sizeof *ext_syms; j++)
      if (strcmp(name, ext_syms[j].name) == 0) addr = ext_syms[j].addr;
    if (strcmp(name, "wh_defs") == 0) addr = m->defs;
    memcpy(base + got + 8ull * k, &addr, 8);
    uint8_t *st = base + stubs + 16ull * k;
    int32_t rel = (int32_t)((int64_t)(got + 8ull * k) - (int64_t)(stubs + 16ull * k + 6));
    st[0] = 0xff; st[1] = 0x25;                 /* jmp *rel(%rip) */
    memcpy(st + 2, &rel, 4);
    memset(st + 6, 0xcc, 10);
  }

  /* relocations */
  for (uint32_t i = 0; i < nsec; i++) {
    if (sh[i].sh_type == SHT_REL) BAD("REL relocations are not supported");
    if (sh[i].sh_type != SHT_RELA) continue;
    uint32_t target = sh[i].sh_info;
    if (target >= nsec) BAD("bad relocation section");
    if (sec_addr[target] == UINT64_MAX) continue;   /* e.g. debug sections */
    if (!in_file(len, sh[i].sh_offset, sh[i].sh_size) || sh[i].sh_entsize != sizeof(Elf64_Rela) ||
        sh[i].sh_offset % 8)
      BAD("bad relocation table");
    const Elf64_Rela *rl = (const Elf64_Rela *)(obj + sh[i].sh_offset);
    uint64_t nrl = sh[i].sh_size / sizeof(Elf64_Rela);
    for (uint64_t r = 0; r < nrl; r++) {
      uint32_t type = (uint32_t)ELF64_R_TYPE(rl[r].r_info);
      uint32_t si = (uint32_t)ELF64_R_SYM(rl[r].r_info);
      uint64_t width = (type == R_X86_64_64 || type == R_X86_64_PC64) ? 8 : 4;
      if (si >= nsyms || sh[target].sh_size < width || rl[r].r_offset > sh[target].sh_size - width)
        BAD("relocation out of range");
      uint64_t P = (uint64_t)(uintptr_t)base + sec_addr[target] + rl[r].r_offset;
      uint64_t S, G = 0;
      const Elf64_Sym *sym = &syms[si];
      if (ext_of[si]) {
        uint32_t k = ext_of[si] - 1;
        S = (uint64_t)(uintptr_t)base + stubs + 16ull * k;
        G = (uint64_t)(uintptr_t)base + got + 8ull * k;
        if (type == R_X86_64_64) memcpy(&S, base + got + 8ull * k, 8);
      } else {
        uint32_t shn = sym->st_shndx;
        if (shn == SHN_ABS) S = sym->st_value;
        else if (shn >= nsec || sec_addr[shn] == UINT64_MAX) BAD("relocation against an unloaded section");
        else S = (uint64_t)(uintptr_t)base + sec_addr[shn] + sym->st_value;
      }
      int64_t A = rl[r].r_addend;
      uint8_t *at = base + sec_addr[target] + rl[r].r_offset;
      switch (type) {
      case R_X86_64_NONE: break;
      case R_X86_64_64: { uint64_t v = S + (uint64_t)A; memcpy(at, &v, 8); break; }
      case R_X86_64_PC64: { uint64_t v = S + (uint64_t)A - P; memcpy(at, &v, 8); break; }
      case R_X86_64_PC32:
      case R_X86_64_PLT32:
      case R_X86_64_GOTPCREL:
      case R_X86_64_GOTPCRELX:
      case R_X86_64_REX_GOTPCRELX: {
        uint64_t to = S;
        if (type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX ||
            type == R_X86_64_REX_GOTPCRELX) {
          if (!G) BAD("GOT relocation against a local symbol");
          to = G;
        }
        int64_t v = (int64_t)(to + (uint64_t)A - P);
        if (v != (int32_t)v) BAD("relocation overflow");
        int32_t v32 = (int32_t)v;
        memcpy(at, &v32, 4);
        break;
      }
      default: {
        char buf[64];
        snprintf(buf, sizeof buf, "unsupported relocation type %u", type);
        wh_diag_set(diag, WH_ECORRUPT, -1, "native code: %s", buf);
        why = "";
        goto fail;
      }
      }
    }
  }

  /* entries */
  for (uint32_t s = 1; s < nsyms; s++) {
    if (syms[s].st_name >= strtab_len || ext_of[s]) continue;
    const char *name = strtab + syms[s].st_name;
    if (strncmp(name, "wh_e", 4) != 0 || ELF64_ST_TYPE(syms[s].st_info) != STT_FUNC) continue;
    char *end;
    unsigned long d = strtoul(name + 4, &end, 10);
    if (*end || d >= ndefs) continue;
    uint32_t shn = syms[s].st_shndx;
    if (shn >= nsec || sec_addr[shn] == UINT64_MAX || !(sh[shn].sh_flags & SHF_EXECINSTR) ||
        syms[s].st_value >= sh[shn].sh_size)
      BAD("bad entry symbol");
    void *p = base + sec_addr[shn] + syms[s].st_value;
    memcpy(&nc->entries[d], &p, sizeof p);
  }
  for (uint32_t d = 0; d < ndefs; d++)
    if (!nc->entries[d]) BAD("an entry is missing from the native code");

  if (mprotect(map, map_len, PROT_READ | PROT_EXEC)) BAD("cannot protect native code");
  const char *pm = getenv("WHARF_PERFMAP");
  if (pm && *pm && strcmp(pm, "0") != 0)
    perf_map(m, base, sec_addr, nsec, syms, nsyms, strtab, strtab_len);
  free(sec_addr);
  free(ext_of);
  __atomic_store_n(&m->native, nc, __ATOMIC_RELEASE);   /* tier auto: published */
  return 0;
fail:
  if (nc->map) munmap(nc->map, nc->map_len);
  nc->map = NULL;
  int rc = WH_ECORRUPT;
  if (why && *why) rc = wh_diag_set(diag, strcmp(why, "out of memory") ? WH_ECORRUPT : WH_ENOMEM,
                                    -1, "native code: %s", why);
  else if (diag && diag->code) rc = diag->code;
  wh__native_free(nc);
  free(sec_addr);
  free(ext_of);
  return rc;
}
