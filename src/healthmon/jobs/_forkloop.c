/* The zygote's request loop in C (see zygote.py for the protocol and the design).
 *
 * Why C: every page the zygote writes while an attempt it forked is alive is copy-on-write shared
 * with that attempt, so each costs a page fault with a 4 KiB copy. The Python loop touches ~90
 * pages per attempt (frames, reference counts of the objects it uses, the allocator's pools);
 * this loop touches its own stack and a few buffers. It does exactly what Zygote.serve does:
 * poll the runner's socket and one pidfd per live attempt; fork for a request (the child returns
 * to Python with the request); reap an exited attempt, kill its process group, sweep the strays
 * and report. The parent never returns to Python until the runner is gone.
 *
 * serve(sock_fd, children_fd) -> None in the zygote once the runner is gone (every attempt
 * killed and reaped), or (exec_mode, spec_bytes, result_fd) in a forked child, already in its own
 * session, a subreaper, with stdout/stderr on its output pipe and none of the zygote's descriptors.
 * children_fd: the zygote's open /proc/PID/task/PID/children. Linux only (pidfd_open, 5.3+).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    pid_t pid;
    int pidfd;
} attempt_t;

/* One loop per process: module-level state. */
static attempt_t *attempts;
static size_t n_attempts, cap_attempts;
static unsigned char *buf;      /* received bytes not yet consumed */
static size_t buf_len, buf_cap;
static int *fdq;                /* received descriptors, two per request, in order */
static size_t fdq_len, fdq_cap;
static struct pollfd *pfds;
static size_t cap_pfds;
static int lost;                /* the runner's socket failed: shut down at the next turn */

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static uint32_t get_be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(unsigned char *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    p[0] = u >> 24;
    p[1] = u >> 16;
    p[2] = u >> 8;
    p[3] = u;
}

static void report(int sock, char kind, int32_t a, int32_t b) {
    unsigned char r[9];
    r[0] = (unsigned char)kind;
    put_be32(r + 1, a);
    put_be32(r + 5, b);
    size_t off = 0;
    while (off < sizeof r) {
        ssize_t w = send(sock, r + off, sizeof r - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            lost = 1; /* the runner is gone */
            return;
        }
        off += (size_t)w;
    }
}

static int exit_code(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return status;
}

static long find_attempt(pid_t pid) {
    for (size_t i = 0; i < n_attempts; i++)
        if (attempts[i].pid == pid)
            return (long)i;
    return -1;
}

/* SIGKILL and reap every child that is not a live attempt (orphans of finished attempts, re-parented
 * to the zygote), repeatedly: their own children come to the zygote in turn. */
static void sweep(int children_fd) {
    static char data[1 << 16];
    for (int round = 0; round < 200; round++) {
        ssize_t n = pread(children_fd, data, sizeof data - 1, 0);
        if (n <= 0)
            return; /* no child at all: the common case */
        data[n] = 0;
        pid_t strays[1024];
        size_t count = 0;
        char *p = data;
        while (*p && count < sizeof strays / sizeof strays[0]) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            p = end;
            if (find_attempt((pid_t)v) < 0)
                strays[count++] = (pid_t)v;
        }
        if (count == 0)
            return;
        for (size_t i = 0; i < count; i++)
            kill(strays[i], SIGKILL);
        for (size_t i = 0; i < count; i++)
            while (waitpid(strays[i], NULL, 0) < 0 && errno == EINTR) {
            }
        sched_yield(); /* let the re-parenting of their children happen */
    }
}

static void reap(int sock, int children_fd) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        long i = find_attempt(pid);
        if (i < 0)
            continue; /* a stray that ended on its own */
        close(attempts[i].pidfd);
        attempts[i] = attempts[--n_attempts];
        kill(-pid, SIGKILL); /* what is left of its process group */
        sweep(children_fd);
        report(sock, 'E', pid, exit_code(status));
    }
}

static void shutdown_all(int children_fd) {
    for (size_t i = 0; i < n_attempts; i++) {
        kill(-attempts[i].pid, SIGKILL);
        kill(attempts[i].pid, SIGKILL);
        close(attempts[i].pidfd);
    }
    n_attempts = 0;
    for (;;) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: none left */
        }
        sweep(children_fd);
    }
}

/* One receive: bytes into buf, descriptors into fdq. 0 at EOF or on an error. */
static int fill(int sock) {
    if (grow((void **)&buf, &buf_cap, buf_len + (1 << 16), 1) < 0)
        return 0;
    union {
        char space[CMSG_SPACE(32 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf + buf_len, 1 << 16};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (grow((void **)&fdq, &fdq_cap, fdq_len + k, sizeof(int)) < 0)
            return 0;
        memcpy(fdq + fdq_len, CMSG_DATA(c), k * sizeof(int));
        fdq_len += k;
    }
    if (n == 0)
        return 0;
    buf_len += (size_t)n;
    return 1;
}

static void consume(size_t nbytes) {
    memmove(buf, buf + nbytes, buf_len - nbytes);
    buf_len -= nbytes;
    memmove(fdq, fdq + 2, (fdq_len - 2) * sizeof(int));
    fdq_len -= 2;
}

static PyObject *serve(PyObject *module, PyObject *args) {
    (void)module;
    int sock, children_fd;
    if (!PyArg_ParseTuple(args, "ii", &sock, &children_fd))
        return NULL;
    for (;;) {
        if (grow((void **)&pfds, &cap_pfds, n_attempts + 1, sizeof *pfds) < 0)
            return PyErr_NoMemory();
        pfds[0].fd = sock;
        pfds[0].events = POLLIN;
        pfds[0].revents = 0;
        for (size_t i = 0; i < n_attempts; i++) {
            pfds[i + 1].fd = attempts[i].pidfd;
            pfds[i + 1].events = POLLIN;
            pfds[i + 1].revents = 0;
        }
        size_t nfds = n_attempts + 1;
        if (poll(pfds, nfds, -1) < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return NULL;
                continue;
            }
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        int exited = 0;
        for (size_t i = 1; i < nfds; i++)
            if (pfds[i].revents)
                exited = 1;
        if (exited)
            reap(sock, children_fd);
        if (lost) {
            shutdown_all(children_fd);
            Py_RETURN_NONE;
        }
        if (!pfds[0].revents)
            continue;
        if (!fill(sock) || lost) {
            shutdown_all(children_fd);
            Py_RETURN_NONE;
        }
        /* Every complete request (frame and its two descriptors). */
        while (buf_len >= 4 && fdq_len >= 2) {
            size_t end = 4 + (size_t)get_be32(buf);
            if (buf_len < end)
                break;
            if (end < 4 + 6) { /* malformed: drop it with its descriptors */
                close(fdq[0]);
                close(fdq[1]);
                consume(end);
                continue;
            }
            int exec_mode = buf[5] == 1;
            int32_t req_id = (int32_t)get_be32(buf + 6);
            int out_fd = fdq[0], result_fd = fdq[1];
            PyOS_BeforeFork();
            pid_t pid = fork();
            if (pid == 0) {
                PyOS_AfterFork_Child();
                /* What Zygote._child does in Python: own session, subreaper (its descendants are
                 * re-parented to it while it runs), none of the zygote's descriptors, stdout and
                 * stderr on the output pipe (fd 0 is the zygote's /dev/null). */
                setsid();
                prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
                close(sock);
                close(children_fd);
                for (size_t i = 0; i < n_attempts; i++) /* pidfds of other attempts */
                    close(attempts[i].pidfd);
                dup2(out_fd, 1); /* dup2 clears the close-on-exec flag they arrived with */
                dup2(out_fd, 2);
                close(out_fd);
                return Py_BuildValue("Ny#i", PyBool_FromLong(exec_mode), (const char *)buf + 10,
                                     (Py_ssize_t)(end - 10), result_fd);
            }
            int saved = errno;
            PyOS_AfterFork_Parent();
            close(out_fd);
            close(result_fd);
            consume(end);
            if (pid < 0) {
                errno = saved;
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
            if (pidfd < 0 || grow((void **)&attempts, &cap_attempts, n_attempts + 1, sizeof *attempts) < 0) {
                /* Cannot watch it: never leave an attempt unsupervised. */
                if (pidfd >= 0)
                    close(pidfd);
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
                }
                report(sock, 'S', req_id, pid);
                report(sock, 'E', pid, -SIGKILL);
                continue;
            }
            attempts[n_attempts].pid = pid;
            attempts[n_attempts].pidfd = pidfd;
            n_attempts++;
            report(sock, 'S', req_id, pid);
        }
    }
}

/* prctl and malloc_trim for the zygote's Python side, so that it needs no ctypes (and no libffi). */
static PyObject *set_subreaper(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyBool_FromLong(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
}

static PyObject *set_name(PyObject *module, PyObject *arg) {
    (void)module;
    char name[16] = {0};
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(arg, &data, &size) < 0)
        return NULL;
    memcpy(name, data, size < 15 ? (size_t)size : 15);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    Py_RETURN_NONE;
}

static PyObject *trim(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"serve", serve, METH_VARARGS,
     "serve(sock_fd, children_fd): the zygote's request loop; None once the runner is gone, "
     "(exec_mode, spec, result_fd) in a forked child."},
    {"set_subreaper", set_subreaper, METH_NOARGS, "prctl(PR_SET_CHILD_SUBREAPER, 1); True on success."},
    {"set_name", set_name, METH_O, "prctl(PR_SET_NAME, name): the thread's name (bytes, at most 15)."},
    {"malloc_trim", trim, METH_NOARGS, "glibc malloc_trim(0) (nothing elsewhere)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_forkloop", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__forkloop(void) {
    return PyModule_Create(&module);
}
