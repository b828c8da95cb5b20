a.b.c
