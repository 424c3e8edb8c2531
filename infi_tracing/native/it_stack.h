/* C-stack guard of the eval-frame backend (3.10, 3.11).
 *
 * While a PEP 523 function is installed, every Python call nests C frames:
 * 3.11 no longer runs Python-to-Python calls inline in one
 * _PyEval_EvalFrameDefault (~400 bytes of C stack per Python frame even for
 * frames we filter out, against ~0 untraced), and 3.10 adds our hook's own
 * frame to the ~420 bytes it always spends (~580 in all for a traced
 * frame).  A recursion that fits untraced could overflow the thread's C
 * stack traced and die with SIGSEGV.  The hook therefore compares the stack
 * pointer with a per-thread floor (IT_STACK_USE_DIVISOR); below it,
 * it_evalframe.h hands the frame elsewhere (see it_eval_frame_low_stack).
 *
 * The floor is thread-local and read with the GIL held by its own thread
 * only.  Greenlets run on their thread's stack (greenlet copies stack
 * slices in and out of it), so one floor per thread holds for all of them. */
#ifndef IT_STACK_H
#define IT_STACK_H

#include <pthread.h>
#include <stdint.h>

/* The hook nests frames in the first 1/IT_STACK_USE_DIVISOR of a thread's
 * stack; the rest is left for what the program would use untraced.  3.11
 * (half): past it, every thread moves to the profile backend, a process-wide
 * change, so not too early: the main thread's 8 MiB take ~7,000 traced
 * frames first.  3.10 (a quarter): past it, only the deeper frames of that
 * thread go untraced, and each frame above it costs ~40% more than untraced
 * (580 bytes against 417), so the earlier the better: a program that fits
 * in 93% of its stack untraced fits traced (85% with a half). */
#if PY_VERSION_HEX >= 0x030B0000
#define IT_STACK_USE_DIVISOR 2
#else
#define IT_STACK_USE_DIVISOR 4
#endif

/* Below this address the thread's C stack is low.  UINTPTR_MAX until the
 * thread's first frame measures it (every address is below it, so the
 * first check takes the slow path); 0 when the stack is unknown (no
 * guard). */
static __thread uintptr_t it_stack_floor __attribute__((tls_model("initial-exec"))) = UINTPTR_MAX;

/* The current stack pointer, without making the caller set up a frame
 * pointer (which __builtin_frame_address(0) would). */
static inline __attribute__((always_inline)) uintptr_t it_stack_pointer(void) {
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* Measure this thread's stack once and set its floor.  The main thread's
 * size is its RLIMIT_STACK at the time of measuring (glibc reads it and
 * /proc/self/maps: not for a hot path); a program that raises the limit
 * later only makes the floor conservative.  A stack pointer outside the
 * reported stack (a thread running on a stack of its own making) leaves
 * the thread unguarded. */
static __attribute__((noinline)) void it_stack_measure(uintptr_t sp) {
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    uintptr_t floor = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            uintptr_t low = (uintptr_t)addr, high = low + size;
            if (sp > low && sp <= high)
                floor = high - size / IT_STACK_USE_DIVISOR;
        }
        pthread_attr_destroy(&attr);
    }
    it_stack_floor = floor;
}

/* The slow half of the guard (the hook has seen sp < it_stack_floor):
 * 1 when the stack is low, 0 when the floor had not been measured yet and
 * the stack is fine. */
static __attribute__((noinline)) int it_stack_is_low(uintptr_t sp) {
    if (it_stack_floor == UINTPTR_MAX)
        it_stack_measure(sp);
    return sp < it_stack_floor;
}

#endif
