"""The container library: one module per lifecycle verb (create, start,
exec, kill, delete) over the state store, and spawn.py, what create and exec
share to fork a process into a container. commands/<verb>.py only parses
arguments and calls these (crun's src/*.c over libcrun; youki's container/).
Empty on purpose: importing the package must cost nothing."""
