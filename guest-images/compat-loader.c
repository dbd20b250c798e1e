/*
 * compat-loader: run the initramfs' glibc programs on old kernels.
 *
 * The initramfs carries Debian bookworm binaries (busybox-static, the
 * static calgary-guest, kexec with glibc's ld.so), built against glibc
 * 2.36, which assumes a recent kernel in two places that matter here:
 *
 * 1. At start-up it reads 16 random bytes through the AT_RANDOM entry of
 *    the aux vector without checking that the entry exists. Linux supplies
 *    AT_RANDOM from 2.6.29 on; before that every glibc program dies at once
 *    ("segfault at 0").
 * 2. fstat(fd) is newfstatat(fd, "", buf, AT_EMPTY_PATH). AT_EMPTY_PATH
 *    exists from 2.6.39 on; before that the call fails with EINVAL, and with
 *    it opendir(), ld.so's loading of shared libraries, and more.
 *
 * Every program of the initramfs is reached through this loader: it is
 * /bin/busybox, the applet links point at it, /bin/calgary-guest and
 * /sbin/kexec are links to it, and the real binaries live in
 * /lib/calgary/real/. It runs /lib/calgary/real/<basename of argv[0]>, or
 * the real busybox for an applet name:
 *
 * - on a kernel with AT_RANDOM and AT_EMPTY_PATH: a plain execve();
 * - without AT_RANDOM: it loads the program itself (its PT_LOAD segments,
 *   and for a dynamically linked one its PT_INTERP loader), builds a new
 *   initial stack with the same argv and environment and an aux vector that
 *   describes the loaded program and has an AT_RANDOM entry, and jumps to
 *   the entry point;
 * - without AT_EMPTY_PATH (probed, not guessed from the version): the first
 *   loader (PID 1's) forks; the child runs the program under ptrace, and
 *   the parent, tracing it and every process and thread it creates, turns
 *   each newfstatat(fd, "", buf, AT_EMPTY_PATH) into the equivalent
 *   fstat(fd, buf) at syscall entry. Programs started inside the traced
 *   tree see CALGARY_COMPAT_TRACED=1 and do not trace again.
 *
 * - before 2.6.27 there are no pipe2(), dup3() and no SOCK_CLOEXEC /
 *   SOCK_NONBLOCK in socket()'s type (busybox's shell makes every pipe with
 *   pipe2(fds, 0), Rust's std asks for O_CLOEXEC everywhere): when a probe
 *   says pipe2 is missing, the tracer (always active there: AT_EMPTY_PATH
 *   is missing too) turns pipe2 into pipe, dup3 into dup2 and strips the
 *   socket type flags at syscall entry, and at syscall exit applies the
 *   flags itself by making the tracee run fcntl(F_SETFD, FD_CLOEXEC) /
 *   fcntl(F_SETFL, O_NONBLOCK) on the new descriptors before it returns;
 * - before 2.6.24 fcntl(F_DUPFD_CLOEXEC) is EINVAL (busybox's shell moves
 *   the script's descriptor with it, so /init dies at once): when a probe
 *   says so, the tracer makes it F_DUPFD and sets FD_CLOEXEC the same way.
 *   Those kernels also answer a *traced* system call they do not have
 *   (x86-64 tracesys before 2.6.24) with its own number instead of ENOSYS:
 *   glibc's clone3() then "returns" 435, posix_spawn believes it made a
 *   child, and every spawn fails. The tracer puts ENOSYS back at the exit
 *   of such a call (number >= 280, the first one 2.6.18 lacks).
 *
 * CALGARY_COMPAT_FORCE=load|trace|load,trace in the environment takes those
 * paths on any kernel (the kernel's AT_RANDOM is then replaced; `flags` with
 * `trace` emulates the 2.6.27 flags as if the kernel lacked them), and the
 * tracer reports how many calls it rewrote: that is how the host-side test
 * exercises them.
 *
 * Freestanding: no libc, raw system calls, x86-64 only.
 * Build: gcc -Os -static -nostdlib -ffreestanding -fno-stack-protector \
 *        -fno-pie -no-pie -Wl,-Ttext-segment=0x20000000 (away from every
 *        program it loads: busybox at 0x400000, PIEs at 0x555555554000, the
 *        ELF interpreter at 0x7f0000000000).
 */

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_mmap 9
#define SYS_pread64 17
#define SYS_access 21
#define SYS_getpid 39
#define SYS_fork 57
#define SYS_execve 59
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_kill 62
#define SYS_ptrace 101
#define SYS_newfstatat 262
#define SYS_fstat 5
#define SYS_pipe 22
#define SYS_dup2 33
#define SYS_socket 41
#define SYS_fcntl 72
#define SYS_dup3 292
#define SYS_pipe2 293

#define F_DUPFD 0
#define F_SETFD 2
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC 1
#define O_NONBLOCK 0x800
#define O_CLOEXEC 0x80000 /* = SOCK_CLOEXEC; O_NONBLOCK = SOCK_NONBLOCK */
#define EFAULT 14
#define EINVAL 22
#define EMULATE_2_6_27 1 /* pipe2, dup3, socket type flags */
#define EMULATE_2_6_24 2 /* fcntl(F_DUPFD_CLOEXEC), ENOSYS of traced unknown calls */
#define FIRST_NEW_SYSCALL 280 /* utimensat: the first number 2.6.18 lacks */
#define NOSYS_FIX (-1)        /* pending.nops: only restore ENOSYS at the exit */

#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_BASE 7
#define AT_ENTRY 9
#define AT_RANDOM 25
#define AT_EMPTY_PATH 0x1000

#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define ET_EXEC 2
#define ET_DYN 3

#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20

#define PTRACE_TRACEME 0
#define PTRACE_PEEKDATA 2
#define PTRACE_GETREGS 12
#define PTRACE_SETREGS 13
#define PTRACE_SYSCALL 24
#define PTRACE_SETOPTIONS 0x4200
#define PTRACE_O_TRACESYSGOOD 0x01
#define PTRACE_O_TRACEFORK 0x02
#define PTRACE_O_TRACEVFORK 0x04
#define PTRACE_O_TRACECLONE 0x08
#define PTRACE_O_TRACEEXEC 0x10
#define WALL 0x40000000
#define SIGTRAP 5
#define SIGSTOP 19
#define ENOSYS 38
#define ECHILD 10
#define EINTR 4

#define PAGE 4096UL
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

#define PROGRAM_BASE 0x555555554000UL /* an ET_DYN program (static-pie, PIE) */
#define INTERP_BASE 0x7f0000000000UL  /* its ELF interpreter */
#define STACK_SIZE (8UL << 20)
#ifndef REAL_DIR
#define REAL_DIR "/lib/calgary/real/" /* -DREAL_DIR=... for the host-side test */
#endif
#define TRACED_ENV "CALGARY_COMPAT_TRACED=1"
#define FORCE_ENV "CALGARY_COMPAT_FORCE="
#define MAX_ENV 512

struct ehdr {
    u8 ident[16];
    u16 type, machine;
    u32 version;
    u64 entry, phoff, shoff;
    u32 flags;
    u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct phdr {
    u32 type, flags;
    u64 offset, vaddr, paddr, filesz, memsz, align;
};

struct image {
    u64 entry, phdr, phnum;
    char interp[256];
};

/* struct user_regs_struct, x86-64 */
struct regs {
    u64 r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip,
        cs, eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs;
};

static long sc6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define sc4(n, a, b, c, d) sc6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sc3(n, a, b, c) sc4(n, a, b, c, 0)

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, u64 n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, u64 n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static u64 slen(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    return n;
}

/* s starts with prefix: the rest of s, else 0 */
static const char *after(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return s;
}

static int has_word(const char *list, const char *w)
{
    while (list && *list) {
        const char *r = after(list, w);
        if (r && (*r == 0 || *r == ','))
            return 1;
        while (*list && *list != ',')
            list++;
        if (*list == ',')
            list++;
    }
    return 0;
}

static void say(const char *s)
{
    sc3(SYS_write, 2, s, slen(s));
}

static void say_num(u64 v)
{
    char b[24];
    int i = 23;
    b[i] = 0;
    do
        b[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i);
    say(b + i);
}

__attribute__((noreturn)) static void quit(int code)
{
    for (;;)
        sc3(SYS_exit, code, 0, 0);
}

__attribute__((noreturn)) static void die(const char *what, const char *path)
{
    say("compat-loader: ");
    say(what);
    say(" ");
    say(path);
    say("\n");
    quit(127);
}

static void *map(u64 addr, u64 len, long prot, long flags, long fd, u64 off)
{
    long r = sc6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
    if (r < 0 && r > -4096)
        return 0;
    return (void *)r;
}

static int read_at(int fd, void *buf, u64 len, u64 off)
{
    return sc4(SYS_pread64, fd, buf, len, off) == (long)len;
}

/* ---------------------------------------------------------------- loading */

/* Map an ELF file; ET_DYN at `base`. Fills entry, phdr, phnum, interp. */
static void load(const char *path, u64 base, struct image *img)
{
    struct ehdr eh;
    struct phdr ph[32];
    u64 first_vaddr = 0, first_off = 0, phdr = 0;
    int fd = (int)sc3(SYS_open, path, 0, 0);
    int i, have_first = 0;

    if (fd < 0)
        die("cannot open", path);
    if (!read_at(fd, &eh, sizeof eh, 0) || eh.ident[0] != 0x7f || eh.ident[1] != 'E' ||
        eh.ident[2] != 'L' || eh.ident[3] != 'F' || eh.ident[4] != 2 || eh.machine != 62 ||
        (eh.type != ET_EXEC && eh.type != ET_DYN) || eh.phentsize != sizeof(struct phdr) ||
        eh.phnum == 0 || eh.phnum > 32)
        die("not an x86-64 ELF executable:", path);
    if (eh.type == ET_EXEC)
        base = 0;
    if (!read_at(fd, ph, eh.phnum * sizeof(struct phdr), eh.phoff))
        die("cannot read the program headers of", path);
    img->interp[0] = 0;
    for (i = 0; i < eh.phnum; i++) {
        struct phdr *p = &ph[i];
        u64 va, start, fend, mend;
        long prot;

        if (p->type == PT_PHDR)
            phdr = base + p->vaddr;
        if (p->type == PT_INTERP) {
            if (p->filesz >= sizeof img->interp || !read_at(fd, img->interp, p->filesz, p->offset))
                die("bad PT_INTERP in", path);
            img->interp[p->filesz] = 0;
        }
        if (p->type != PT_LOAD)
            continue;
        if (!have_first) {
            first_vaddr = p->vaddr;
            first_off = p->offset;
            have_first = 1;
        }
        va = base + p->vaddr;
        start = PAGE_DOWN(va);
        fend = va + p->filesz;
        mend = va + p->memsz;
        prot = (p->flags & 4 ? PROT_READ : 0) | (p->flags & 2 ? PROT_WRITE : 0) |
               (p->flags & 1 ? PROT_EXEC : 0);
        if (p->filesz && !map(start, PAGE_UP(fend) - start, prot, MAP_PRIVATE | MAP_FIXED, fd,
                              PAGE_DOWN(p->offset)))
            die("cannot map a segment of", path);
        if (p->memsz > p->filesz) {
            /* .bss: zero the rest of the last file page, map the remaining pages */
            if ((prot & PROT_WRITE) && PAGE_UP(fend) > fend && p->filesz)
                memset((void *)fend, 0, PAGE_UP(fend) - fend);
            if (PAGE_UP(mend) > PAGE_UP(fend) &&
                !map(PAGE_UP(fend), PAGE_UP(mend) - PAGE_UP(fend), prot,
                     MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0))
                die("cannot map the bss of", path);
        }
    }
    if (!have_first)
        die("no PT_LOAD in", path);
    img->entry = base + eh.entry;
    img->phdr = phdr ? phdr : base + first_vaddr - first_off + eh.phoff;
    img->phnum = eh.phnum;
    sc3(SYS_close, fd, 0, 0);
}

static u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* Load `path` in this process and start it with argv/envp and an aux
 * vector derived from the kernel's, AT_RANDOM added. */
__attribute__((noreturn)) static void load_and_start(const char *path, long argc, char **argv,
                                                    char **envp, u64 *auxv)
{
    struct image prog, interp;
    u64 *a, *top, *v, *sp, entry, envc = 0, auxc = 0, seed, n;
    u8 *random;

    while (envp[envc])
        envc++;
    for (a = auxv; a[0] != AT_NULL; a += 2)
        auxc++;
    load(path, PROGRAM_BASE, &prog);
    entry = prog.entry;
    if (prog.interp[0]) {
        load(prog.interp, INTERP_BASE, &interp);
        entry = interp.entry;
    }
    /* A fresh stack: argv/envp strings stay where they are. */
    top = map(0, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!top)
        die("cannot map a stack for", path);
    top = (u64 *)((u8 *)top + STACK_SIZE);
    random = (u8 *)(top - 4);
    seed = rdtsc() ^ (u64)argv ^ ((u64)argc << 32);
    for (n = 0; n < 16; n++) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        random[n] = (u8)(seed >> 56);
    }
    /* argc, argv, NULL, envp, NULL, auxv (+AT_RANDOM), AT_NULL; 16-aligned */
    n = 1 + (u64)argc + 1 + envc + 1 + 2 * (auxc + 2);
    v = (u64 *)(((u64)(top - 8 - n)) & ~15UL);
    sp = v;
    *v++ = (u64)argc;
    for (n = 0; n < (u64)argc; n++)
        *v++ = (u64)argv[n];
    *v++ = 0;
    for (n = 0; n < envc; n++)
        *v++ = (u64)envp[n];
    *v++ = 0;
    for (a = auxv; a[0] != AT_NULL; a += 2) {
        u64 val = a[1];
        if (a[0] == AT_RANDOM)
            continue; /* only when forced: ours replaces it */
        switch (a[0]) {
        case AT_PHDR: val = prog.phdr; break;
        case AT_PHENT: val = sizeof(struct phdr); break;
        case AT_PHNUM: val = prog.phnum; break;
        case AT_ENTRY: val = prog.entry; break;
        case AT_BASE: val = prog.interp[0] ? INTERP_BASE : 0; break;
        }
        *v++ = a[0];
        *v++ = val;
    }
    *v++ = AT_RANDOM;
    *v++ = (u64)random;
    *v++ = AT_NULL;
    *v++ = 0;
    __asm__ volatile("mov %0, %%rsp\n\t"
                     "xor %%edx, %%edx\n\t"
                     "jmp *%1\n\t"
                     :
                     : "r"(sp), "r"(entry)
                     : "memory");
    __builtin_unreachable();
}

/* ---------------------------------------------------------------- tracing */

/* Does this kernel know fstatat(fd, "", ..., AT_EMPTY_PATH)? */
static int empty_path_works(void)
{
    u8 st[256];
    long fd = sc3(SYS_open, "/", 0, 0), r;
    if (fd < 0)
        return 1; /* cannot tell: assume a modern kernel */
    r = sc4(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH);
    sc3(SYS_close, fd, 0, 0);
    return r == 0;
}

static long ptrace4(long req, long pid, u64 addr, u64 data)
{
    return sc4(SYS_ptrace, req, pid, addr, data);
}

/* Does this kernel have pipe2() (and with it, 2.6.27, dup3 and the socket
 * type flags)? With a NULL array it fails with EFAULT, or ENOSYS. */
static int pipe2_works(void)
{
    return sc3(SYS_pipe2, 0, 0, 0) != -ENOSYS;
}

/* Does this kernel know fcntl(F_DUPFD_CLOEXEC) (2.6.24)? */
static int dupfd_cloexec_works(void)
{
    long fd = sc3(SYS_open, "/", 0, 0), r;
    if (fd < 0)
        return 1; /* cannot tell: assume a modern kernel */
    r = sc3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
    if (r >= 0)
        sc3(SYS_close, r, 0, 0);
    sc3(SYS_close, fd, 0, 0);
    return r != -EINVAL;
}

/*
 * A call whose flags the tracer applies itself: after the rewritten call
 * returned `fds` (one or two descriptors), the tracee runs one fcntl per
 * (descriptor, flag), injected by re-executing its `syscall` instruction,
 * then gets its registers back with the call's result.
 */
#define MAX_PENDING 64
struct pending {
    long tid;           /* 0: free */
    int step;           /* 0: rewritten call running; odd: fcntl entry next; even: its exit */
    int nops, op;
    int fd[4], cmd[4], arg[4];
    u64 fds_addr;       /* pipe: the tracee's int[2] */
    struct regs done;   /* the tracee's registers at the rewritten call's exit */
};
static struct pending pend[MAX_PENDING];

static struct pending *pending_of(long tid)
{
    int i;
    for (i = 0; i < MAX_PENDING; i++)
        if (pend[i].tid == tid)
            return &pend[i];
    return 0;
}

/* At syscall entry: rewrite a 2.6.27 call this kernel lacks; 1 if done. */
static int emulate_flags(long tid, struct regs *r, int emulate);

/* At syscall entry: rewrite a call this kernel lacks (1), or note one whose
 * ENOSYS the kernel will get wrong (0). */
static int emulate_entry(long tid, struct regs *r, int emulate)
{
    struct pending *p;

    if (emulate_flags(tid, r, emulate))
        return 1;
    if ((emulate & EMULATE_2_6_24) && r->orig_rax >= FIRST_NEW_SYSCALL && r->orig_rax < 4096 &&
        (p = pending_of(0)) != 0) {
        p->tid = tid;
        p->step = 0;
        p->nops = NOSYS_FIX;
    }
    return 0;
}

static int emulate_flags(long tid, struct regs *r, int emulate)
{
    struct pending *p;
    long flags;
    u64 nr = r->orig_rax;

    if (nr == SYS_fcntl) {
        if (!(emulate & EMULATE_2_6_24) || r->rsi != F_DUPFD_CLOEXEC)
            return 0;
        flags = O_CLOEXEC;
    } else if (!(emulate & EMULATE_2_6_27))
        return 0;
    else if (nr == SYS_pipe2)
        flags = (long)r->rsi;
    else if (nr == SYS_dup3)
        flags = (long)r->rdx;
    else if (nr == SYS_socket)
        flags = (long)r->rsi & (O_CLOEXEC | O_NONBLOCK);
    else
        return 0;
    if (flags & ~(long)(O_CLOEXEC | O_NONBLOCK))
        return 0; /* not ours to emulate: the kernel answers */
    if (nr == SYS_dup3 && (flags & O_NONBLOCK))
        return 0; /* dup3 takes O_CLOEXEC only */
    if (nr == SYS_socket && !flags)
        return 0;
    p = pending_of(0);
    if (!p)
        return 0; /* table full: let the call fail as the kernel says */
    if (nr == SYS_fcntl) {
        r->rsi = F_DUPFD;
    } else if (nr == SYS_pipe2) {
        r->orig_rax = SYS_pipe;
        p->fds_addr = r->rdi;
    } else if (nr == SYS_dup3) {
        if (r->rdi == r->rsi)
            return 0; /* dup3(fd, fd) is EINVAL, dup2 would succeed */
        r->orig_rax = SYS_dup2;
    } else {
        r->rsi &= ~(u64)(O_CLOEXEC | O_NONBLOCK);
    }
    if (ptrace4(PTRACE_SETREGS, tid, 0, (u64)r) != 0)
        return 0;
    p->tid = tid;
    p->step = 0;
    p->nops = (int)flags; /* the flags, until the exit turns them into ops */
    return 1;
}

/* At the rewritten call's exit and at every stop of the fcntls after it. */
static void emulate_step(long tid, struct pending *p)
{
    struct regs r;
    int i, n, flags, fds[2];

    if (ptrace4(PTRACE_GETREGS, tid, 0, (u64)&r) != 0) {
        p->tid = 0;
        return;
    }
    if (p->nops == NOSYS_FIX) {
        if (r.rax == r.orig_rax) {
            r.rax = (u64)-ENOSYS;
            ptrace4(PTRACE_SETREGS, tid, 0, (u64)&r);
        }
        p->tid = 0;
        return;
    }
    if (p->step == 0) {
        if ((long)r.rax < 0) {
            p->tid = 0; /* the call failed: nothing to apply */
            return;
        }
        flags = p->nops;
        n = 1;
        fds[0] = (int)r.rax;
        if (r.orig_rax == SYS_pipe) {
            u64 word = 0;
            if (ptrace4(PTRACE_PEEKDATA, tid, p->fds_addr, (u64)&word) != 0) {
                p->tid = 0;
                return;
            }
            fds[0] = (int)(word & 0xffffffffu);
            fds[1] = (int)(word >> 32);
            n = 2;
        }
        p->nops = 0;
        for (i = 0; i < n; i++) {
            if (flags & O_CLOEXEC) {
                p->fd[p->nops] = fds[i];
                p->cmd[p->nops] = F_SETFD;
                p->arg[p->nops++] = FD_CLOEXEC;
            }
            if (flags & O_NONBLOCK) {
                p->fd[p->nops] = fds[i];
                p->cmd[p->nops] = F_SETFL;
                p->arg[p->nops++] = O_NONBLOCK;
            }
        }
        p->done = r;
        p->op = 0;
    } else if (p->step & 1) {
        p->step++; /* the injected fcntl's entry: let it run */
        return;
    } else {
        p->op++; /* an injected fcntl returned */
    }
    if (p->op < p->nops) {
        r = p->done;
        r.rip -= 2; /* the `syscall` instruction (0f 05) again */
        r.rax = SYS_fcntl;
        r.orig_rax = SYS_fcntl;
        r.rdi = (u64)p->fd[p->op];
        r.rsi = (u64)p->cmd[p->op];
        r.rdx = (u64)p->arg[p->op];
        p->step = 1;
        if (ptrace4(PTRACE_SETREGS, tid, 0, (u64)&r) != 0)
            p->tid = 0;
        return;
    }
    ptrace4(PTRACE_SETREGS, tid, 0, (u64)&p->done);
    p->tid = 0;
}

/* Trace `child` and everything it creates; rewrite newfstatat(fd, "",
 * buf, AT_EMPTY_PATH) into fstat(fd, buf). Returns when `child` ends,
 * with its exit status (128 + signal when killed). */
static int trace(long child, int report, int emulate)
{
    int status = 0, code = 0;
    u64 rewritten = 0, emulated = 0;
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;

    if (sc4(SYS_wait4, child, &status, WALL, 0) != child)
        die("lost the child", "");
    ptrace4(PTRACE_SETOPTIONS, child, 0, (u64)opts);
    ptrace4(PTRACE_SYSCALL, child, 0, 0);
    for (;;) {
        long tid = sc4(SYS_wait4, -1, &status, WALL, 0);
        int sig, event;
        long inject = 0;

        if (tid == -EINTR)
            continue;
        if (tid < 0)
            break; /* -ECHILD: nothing left */
        if ((status & 0x7f) == 0 || ((status & 0x7f) != 0x7f)) {
            /* exited, or killed by a signal */
            struct pending *p = pending_of(tid);
            if (p)
                p->tid = 0;
            if (tid == child) {
                code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
                break;
            }
            continue;
        }
        sig = (status >> 8) & 0xff;
        event = (status >> 16) & 0xff;
        if (sig == (SIGTRAP | 0x80)) {
            struct regs r;
            struct pending *p = pending_of(tid);
            if (p) {
                emulate_step(tid, p);
            } else if (ptrace4(PTRACE_GETREGS, tid, 0, (u64)&r) == 0 && r.rax == (u64)-ENOSYS &&
                       emulate && emulate_entry(tid, &r, emulate)) {
                emulated++;
            } else if (ptrace4(PTRACE_GETREGS, tid, 0, (u64)&r) == 0 && r.rax == (u64)-ENOSYS &&
                r.orig_rax == SYS_newfstatat && (r.r10 & AT_EMPTY_PATH)) {
                u64 word = 1;
                if (ptrace4(PTRACE_PEEKDATA, tid, r.rsi, (u64)&word) == 0 && (word & 0xff) == 0) {
                    r.orig_rax = SYS_fstat;
                    r.rsi = r.rdx;
                    if (ptrace4(PTRACE_SETREGS, tid, 0, (u64)&r) == 0)
                        rewritten++;
                }
            }
        } else if (event || sig == SIGSTOP || sig == SIGTRAP) {
            /* fork/clone/exec events and new tracees' first stop */
        } else {
            inject = sig;
        }
        ptrace4(PTRACE_SYSCALL, tid, 0, (u64)inject);
    }
    if (report) {
        say("compat-loader: rewrote ");
        say_num(rewritten);
        say(" fstat calls\n");
        if (emulate) {
            say("compat-loader: emulated ");
            say_num(emulated);
            say(" pipe2/dup3/socket/F_DUPFD_CLOEXEC flag calls\n");
        }
    }
    return code;
}

/* ---------------------------------------------------------------- entry */

__attribute__((noreturn, used)) void loader_main(u64 *sp)
{
    long argc = (long)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    char *env2[MAX_ENV + 2];
    u64 *auxv, *a, envc = 0, n;
    int have_random = 0, traced = 0;
    const char *force = 0, *name = argc > 0 ? argv[0] : "busybox", *b;
    char path[256];

    while (envp[envc]) {
        if (after(envp[envc], TRACED_ENV) && !envp[envc][slen(TRACED_ENV)])
            traced = 1;
        if (after(envp[envc], FORCE_ENV))
            force = after(envp[envc], FORCE_ENV);
        envc++;
    }
    auxv = (u64 *)(envp + envc + 1);
    for (a = auxv; a[0] != AT_NULL; a += 2)
        if (a[0] == AT_RANDOM)
            have_random = 1;

    /* /lib/calgary/real/<basename>, else busybox (an applet name) */
    for (b = name; *name; name++)
        if (*name == '/')
            b = name + 1;
    n = slen(REAL_DIR);
    memcpy(path, REAL_DIR, n);
    if (slen(b) + n + 1 > sizeof path)
        b = "busybox";
    memcpy(path + n, b, slen(b) + 1);
    if (sc3(SYS_access, path, 1, 0) != 0)
        memcpy(path + n, "busybox", 8);

    if (!traced && envc < MAX_ENV &&
        ((force && has_word(force, "trace")) || !empty_path_works())) {
        long pid;
        for (n = 0; n < envc; n++)
            env2[n] = envp[n];
        env2[envc++] = TRACED_ENV;
        env2[envc] = 0;
        envp = env2;
        pid = sc3(SYS_fork, 0, 0, 0);
        if (pid < 0)
            die("cannot fork to trace", path);
        if (pid > 0) {
            int fl = force && has_word(force, "flags");
            quit(trace(pid, force != 0, (fl || !pipe2_works() ? EMULATE_2_6_27 : 0) |
                                            (fl || !dupfd_cloexec_works() ? EMULATE_2_6_24 : 0)));
        }
        ptrace4(PTRACE_TRACEME, 0, 0, 0);
        sc3(SYS_kill, sc3(SYS_getpid, 0, 0, 0), SIGSTOP, 0);
    }
    if (have_random && !(force && has_word(force, "load"))) {
        sc3(SYS_execve, path, argv, envp);
        die("cannot execute", path);
    }
    load_and_start(path, argc, argv, envp, auxv);
}

__asm__(".globl _start\n"
        "_start:\n\t"
        "mov %rsp, %rdi\n\t"
        "and $-16, %rsp\n\t"
        "call loader_main\n\t"
        "hlt\n");
