"""A foreground `run`/`exec` with a terminal and no --console-socket: the
container's pty master comes back to us over a socketpair and we relay it
to our own stdin/stdout (raw mode while we do), like runc's tty handling."""
import os
import select
import _signal as signal  # not `signal`: it loads enum
import socket


def pair():
    """(our end, the end the init or exec child sends the master on)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def receive_master(fd):
    """The pty master sent over our end of pair(); closes that end."""
    s = socket.socket(fileno=fd)
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(s, 4096, 1)
    finally:
        s.close()
    if not fds:
        raise OSError("no pty master received")
    return fds[0]


def _winsize(src, dst):
    import fcntl
    import termios

    try:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def relay(master, pid_done):
    """Copy stdin -> master and master -> stdout until the master hangs up
    (the process and everything holding the pty exited) or pid_done() is true."""
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _winsize(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: _winsize(0, master))
    stdin_open = True
    try:
        while True:
            fds = [master] + ([0] if stdin_open else [])
            try:
                r, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    stdin_open = False
            if not r and pid_done():
                return
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
