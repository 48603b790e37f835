/*
 * spin.h - the one busy-wait hint, for the few places where a thread waits
 * a bounded number of instructions for another (activation, the symbol
 * cache's lock, the connection table's first mapping). It tells the CPU we
 * spin (x86 `pause`, arm64 `yield`) and is a compiler barrier everywhere, so
 * the awaited atomic is re-read.
 */
#ifndef ARGUS_SPIN_H
#define ARGUS_SPIN_H

#include <stdatomic.h>

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
