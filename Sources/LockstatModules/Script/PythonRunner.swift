/// The Python side of drop-in modules, run with `python3 -I -c`: isolated, so neither the current
/// directory, the user's site-packages nor PYTHON* variables decide what gets imported (lockstat
/// often runs as root from /tmp). It loads the module file and:
/// - `session MODULE_FILE TEST_DIR`: answers `presampling`, `sample T`, `postsampling` lines on
///   stdin, one long-lived interpreter for the whole sampling phase; each answer is `ok` or
///   `error N` followed by N bytes of traceback. The module's own prints go to stderr, so they
///   never mix with the answers.
/// - `parse MODULE_FILE TEST_DIR OUT`: writes parse()'s value to OUT.pickle (protocol 3, what
///   samples.pickle embeds) and to OUT.json when it is JSON-serializable.
/// - `plot MODULE_FILE TEST_DIR INTERVAL NAME`: calls plot(test_dir, data, interval) with the
///   module's entry of TEST_DIR/samples.pickle.
enum PythonRunner {
    /// python3's arguments for one mode.
    static func arguments(_ mode: String, _ rest: String...) -> [String] { ["-I", "-c", source, mode] + rest }

    static let source = #"""
        import importlib.util, json, math, os, pickle, sys, traceback

        class LoadError(Exception):
            pass

        def load(path):
            name = os.path.splitext(os.path.basename(path))[0]
            try:
                spec = importlib.util.spec_from_file_location("lockstat_module_" + name, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
            except SyntaxError as e:
                text = (e.text or "")
                if "print " in text or "print\t" in text or "except " in text and "," in text:
                    raise LoadError("%s:%s: this module is written for Python 2 and needs Python 3: %s" % (path, e.lineno, text.strip()))
                raise

        def load_or_exit(path, answers=None):
            """The module, or exit 3 with one line why: on stderr, and to lockstat first when it waits."""
            try:
                return load(path)
            except BaseException as e:
                reason = str(e) if isinstance(e, LoadError) else "".join(traceback.format_exception_only(type(e), e)).strip()
                sys.stderr.write(traceback.format_exc() if not isinstance(e, LoadError) else reason + "\n")
                if answers is not None:
                    answers.write("failed %s\n" % " ".join(reason.split()))
                    answers.flush()
                sys.exit(3)

        def call(module, op, *args):
            f = getattr(module, op, None)
            return f(*args) if f is not None else None

        mode, path, test_dir = sys.argv[1], sys.argv[2], sys.argv[3]
        if mode == "session":
            answers = os.fdopen(os.dup(1), "w")
            os.dup2(2, 1)
            sys.stdout = sys.stderr
            module = load_or_exit(path, answers)
            answers.write("ready\n"); answers.flush()
            for line in sys.stdin:
                words = line.split()
                if not words or words[0] == "quit":
                    break
                try:
                    if words[0] == "sample":
                        call(module, "sample", test_dir, int(words[1]))
                    else:
                        call(module, words[0], test_dir)
                    answers.write("ok\n")
                except BaseException:
                    text = traceback.format_exc()
                    answers.write("error %d\n" % len(text.encode()))
                    answers.write(text)
                answers.flush()
        elif mode == "parse":
            module = load_or_exit(path)
            value = call(module, "parse", test_dir)
            out = sys.argv[4]
            with open(out + ".pickle", "wb") as f:
                pickle.dump(value, f, protocol=3)
            try:
                text = json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as e:
                text = None
            if text is not None:
                with open(out + ".json", "w") as f:
                    f.write(text)
        elif mode == "plot":
            module = load_or_exit(path)
            interval, name = float(sys.argv[4]), sys.argv[5]
            with open(os.path.join(test_dir, "samples.pickle"), "rb") as f:
                data = pickle.load(f).get(name)
            call(module, "plot", test_dir, data, interval)
        """#
}
