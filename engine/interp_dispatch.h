/*
 * interp_dispatch.h - how interp.c's loop dispatches: computed goto (GCC
 * and clang; each handler ends in its own indirect jump, which predicts
 * well) or a plain switch for other compilers.  Only these macros differ;
 * the loop body is the same text either way (Lua's lvm.c + ljumptab.h).
 *
 *   VM_CASE(NAME)    starts the handler of WOP_NAME
 *   VM_DISPATCH()    jumps to the handler of the op at ip
 *   VM_BEGIN/VM_END  bracket the handlers
 */
#ifndef WH_INTERP_DISPATCH_H
#define WH_INTERP_DISPATCH_H

#if defined(__GNUC__) && !defined(WH_INTERP_SWITCH)
#define WH_INTERP_COMPUTED_GOTO 1
#define VM_DISPATCH()                                                         \
  do {                                                                        \
    void *h_;                                                                 \
    memcpy(&h_, ip, sizeof h_);                                               \
    goto *h_;                                                                 \
  } while (0)
#define VM_CASE(name) L_##name:
#define VM_BEGIN VM_DISPATCH();
#define VM_END
#else
#define WH_INTERP_COMPUTED_GOTO 0
#define VM_DISPATCH() goto vm_top
#define VM_CASE(name) case WOP_##name:
#define VM_BEGIN                                                              \
  vm_top: {                                                                   \
    uint64_t op_;                                                             \
    memcpy(&op_, ip, sizeof op_);                                             \
    switch (op_) {
#define VM_END                                                                \
    default: __builtin_unreachable();                                         \
    }                                                                         \
  }
#endif

#endif /* WH_INTERP_DISPATCH_H */
