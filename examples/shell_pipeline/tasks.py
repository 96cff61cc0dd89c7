"""Shell recipes only: generated files, output folders and a command-line variable.

minimake -j2            the three most frequent words: out/top-3.txt
minimake N=5            another N, another file: out/top-5.txt (out/top-3.txt is kept)
minimake -n N=5         what would run
minimake clean
"""

from minimake import phony, task, var

# make's rule compares mtimes, never values: a target must change with N, or `minimake N=5`
# after `minimake N=3` would say everything is up to date. So N is part of the file name.
# Recipes get N's value from Python; a variable given on the command line also reaches them
# as an environment variable, but the default does not.
N = var("N", "3")
TOP = f"out/top-{N}.txt"

# The output folders are tasks of their own...
task("gen", recipe="mkdir -p gen")
task("out", recipe="mkdir -p out")

# ...and order-only deps of the tasks that write into them: built first, never compared. A
# folder's mtime changes whenever a file inside it is added, which as a normal dep would make
# everything in it stale again.

# One recipe writes two files: a multi-target task, named by its first target.
task(
    ["gen/words.h", "gen/words.c"],
    deps=["words.txt"],
    order_only=["gen"],
    recipe=[
        "echo '/* generated from words.txt */' > gen/words.h",
        'echo "extern const char *words[$(wc -l < words.txt)];" >> gen/words.h',
        "echo '#include \"words.h\"' > gen/words.c",
        # $DEP is the first dep (make's $<); `{` and `$` reach /bin/sh untouched.
        """awk 'BEGIN { print "const char *words[] = {" } { printf "    \\"%s\\",\\n", $0 }"""
        """ END { print "};" }' "$DEP" >> gen/words.c""",
    ],
)

task(
    TOP,
    deps=["words.txt"],
    order_only=["out"],
    recipe=f'sort words.txt | uniq -c | sort -k1,1nr -k2 | head -n {N} > "$TARGET"',
)

# Depends on a task by any of its targets: gen/words.c names the two-file task above. It does
# not depend on N, so it is one file whatever N is.
task(
    "out/summary.txt",
    deps=["words.txt", "gen/words.c"],
    order_only=["out"],
    recipe=[
        'echo "words: $(wc -l < words.txt)" > "$TARGET"',
        'echo "distinct: $(sort -u words.txt | wc -l)" >> "$TARGET"',
        'echo "generated: $(wc -l < gen/words.c) lines of C" >> "$TARGET"',
    ],
)

phony("all", deps=["out/summary.txt", TOP], default=True)
phony("clean", recipe="rm -rf gen out")
