"""Receive UDP datagrams on 127.0.0.1:PORT and write each payload to DIR/NNNN.bin until idle."""
import os
import socket
import sys

port, out, idle = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
os.makedirs(out, exist_ok=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(idle)
n = 0
try:
    while True:
        data = s.recv(65535)
        with open(os.path.join(out, "%04d.bin" % n), "wb") as f:
            f.write(data)
        n += 1
except socket.timeout:
    pass
print(n)
