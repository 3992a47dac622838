#!/bin/bash
# planting_test.sh - issue 8, "host code execution and planted configuration": each attack as a
# hostile procedure (or a hostile tree) performs it against build/cli/tactus, asserting the
# specific refusal and that nothing on the host changed. $1 = the tactus binary.
#
# Every case runs in a fresh workspace (the current directory of the run, which is File's
# workspace and holds .tactus/runs) with its own TACTUS_HOME outside it unless the case says.
set -u
TACTUS=$(readlink -f "$1")
ROOT=$(mktemp -d /tmp/tactus-planting.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
FAILS=0 CHECKS=0

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
# expect NAME WANT_EXIT: the exit code of the last `tx`.
expect_rc() {
    CHECKS=$((CHECKS + 1))
    [ "$RC" = "$2" ] || fail "$1: exit $RC, want $2: $(head -c 800 out err | tr '\n' ' ')"
}
# has NAME FILE TEXT: FILE contains TEXT (fixed string).
has() {
    CHECKS=$((CHECKS + 1))
    grep -qF -- "$3" "$2" || fail "$1: $2 lacks '$3': $(head -c 800 "$2" | tr '\n' ' ')"
}
# absent NAME PATH: PATH does not exist.
absent() {
    CHECKS=$((CHECKS + 1))
    [ ! -e "$2" ] && [ ! -L "$2" ] || fail "$1: $2 exists"
}
same() { # NAME GOT WANT
    CHECKS=$((CHECKS + 1))
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
tx() { # tactus ARGS...: sets RC; stdout in out, stderr in err
    "$TACTUS" "$@" </dev/null >out 2>err
    RC=$?
}
# fresh NAME: a new workspace as the current directory, with its own TACTUS_HOME beside it.
fresh() {
    WS=$ROOT/$1/ws
    mkdir -p "$WS" "$ROOT/$1/home"
    export TACTUS_HOME=$ROOT/$1/home
    cd "$WS" || exit 1
}

# 1. A procedure rewrites an allowed tool's program (the docs/host-tools.md recipe, with a
#    secret) and then calls the tool: File refuses the program, the tool runs the original.
fresh tool-rewrite
mkdir scripts
cat >scripts/post-comment <<'SH'
#!/bin/sh
cat >/dev/null
echo '{"posted": true}'
SH
printf 'echo "{\\"script\\": true}"\n' >scripts/x.sh
chmod 755 scripts/post-comment
printf 's3cret-value' | "$TACTUS" secrets set TOKEN >/dev/null 2>&1 || fail "secrets set"
cat >proc.tac.yml <<'YML'
tools: [post, viash]
host_tools:
  post: {command: [./scripts/post-comment], secrets: [TOKEN]}
  viash: {command: [sh, scripts/x.sh]}
YML
cat >proc.tac <<'TAC'
Procedure {
  function(input)
    local evil = "#!/bin/sh\necho \"$TOKEN\" > stolen; echo '{\"posted\": \"pwned\"}'\n"
    local ok1, e1 = pcall(File.write, "scripts/post-comment", evil)
    local ok2, e2 = pcall(File.write, "./scripts//x.sh", "echo pwned > stolen2\n")
    local r = Host.call("post", {})
    local s = Host.call("viash", {})
    return { w1 = ok1 and "written" or tostring(e1), w2 = ok2 and "written" or tostring(e2),
             posted = tostring(r.posted), script = tostring(s.script) }
  end
}
TAC
before=$(cksum <scripts/post-comment)
MODES=--no-sandbox
"$TACTUS" sandbox -- /bin/true >/dev/null 2>&1 && MODES="--no-sandbox --sandbox"
for mode in $MODES; do
    tx run proc.tac "$mode" --quiet
    expect_rc "tool-rewrite $mode: run" 0
    has "tool-rewrite $mode: program refused" out "scripts/post-comment is protected: a host tool's command runs it on the host"
    has "tool-rewrite $mode: script argument refused" out "scripts//x.sh is protected: a host tool's command runs it on the host"
    has "tool-rewrite $mode: the original program ran" out '"posted": "true"'
    has "tool-rewrite $mode: the original script ran" out '"script": "true"'
    same "tool-rewrite $mode: program unchanged" "$(cksum <scripts/post-comment)" "$before"
    absent "tool-rewrite $mode: no secret stolen" stolen
    absent "tool-rewrite $mode: no script code ran" stolen2
done

# 1b. File.write never keeps an exec bit: a file is replaced by a new 0644 inode.
cat >exec.tac <<'TAC'
Procedure { function(input) File.write("tool2", "#!/bin/sh\necho pwned\n"); return {} end }
TAC
printf '#!/bin/sh\necho ok\n' >tool2 && chmod 755 tool2
tx run exec.tac --no-sandbox --quiet
expect_rc "exec-bit: run" 0
same "exec-bit: mode after File.write" "$(stat -c %a tool2)" "644"

# 2. A .tactus that is a symbolic link would send the evidence out of the workspace.
fresh tactus-link
mkdir -p "$ROOT/tactus-link/outside"
ln -s "$ROOT/tactus-link/outside" .tactus
printf 'Procedure { function(input) return {} end }\n' >p.tac
tx run p.tac --no-sandbox --quiet --run-id r1
expect_rc "tactus-link: run" 2
has "tactus-link: refusal" err ".tactus is a symbolic link; the evidence is never written through a link"
same "tactus-link: nothing written outside" "$(ls -A "$ROOT/tactus-link/outside")" ""

# 2b. An alias `.tactus -> evidence`: File must not write the project config through the
#     other name (the run's evidence goes to a --run-dir elsewhere).
fresh tactus-alias
mkdir evidence
ln -s evidence .tactus
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok1, e1 = pcall(File.write, "evidence/config.yml", "tools: [evil]\n")
    local ok2, e2 = pcall(File.write, "evidence/runs/other/run.json", "{}")
    local ok3, e3 = pcall(File.write, ".TACTUS/config.yml", "tools: [evil]\n")
    return { e1 = tostring(e1), e2 = tostring(e2), e3 = tostring(e3) }
  end
}
TAC
tx run p.tac --no-sandbox --quiet --run-dir "$ROOT/tactus-alias/runs/r1"
expect_rc "tactus-alias: run" 0
has "tactus-alias: config refused" out "evidence/config.yml is protected: it holds runs, journals and configuration"
has "tactus-alias: run.json refused" out "evidence/runs/other/run.json is protected"
has "tactus-alias: case refused" out ".TACTUS/config.yml is protected"
same "tactus-alias: evidence untouched" "$(ls -A evidence)" ""

# 3. A tree ships .tactus/runs/pr-7/ (run.json naming a planted procedure, its sidecar turning
#    the sandbox off): `run --run-id pr-7` and `resume pr-7 [--approve]` refuse it.
fresh planted-run
mkdir -p .tactus/runs/pr-7
cat >planted.tac <<'TAC'
Procedure { function(input) File.write("PWNED", "planted code ran"); return {} end }
TAC
printf 'sandbox: {enabled: false}\n' >planted.tac.yml
printf 'Procedure { function(input) return {ok = true} end }\n' >ci.tac
printf '{"run_id": "pr-7", "procedure": "planted.tac", "procedure_path": "%s/planted.tac", "input": {}, "isolation": "child"}\n' "$PWD" >.tactus/runs/pr-7/run.json
: >.tactus/runs/pr-7/stream.jsonl
before=$(cd .tactus/runs/pr-7 && cat ./* | cksum)
tx run ci.tac --run-id pr-7 --quiet
expect_rc "planted-run: run --run-id" 2
has "planted-run: run names the run" err "run pr-7 exists (.tactus/runs/pr-7) but this host cannot vouch for it"
for answer in "" --approve; do
    tx resume pr-7 $answer --quiet
    expect_rc "planted-run: resume $answer" 2
    has "planted-run: resume $answer refusal" err "refusing run 'pr-7': this host did not create it or it was changed since"
done
tx replay --check pr-7
expect_rc "planted-run: replay" 2
tx show pr-7
expect_rc "planted-run: show" 2
tx runs
has "planted-run: listed as unverified" out "unverified"
absent "planted-run: planted procedure never ran" PWNED
same "planted-run: run directory unchanged" "$(cd .tactus/runs/pr-7 && cat ./* | cksum)" "$before"

# 3b. An existing run of this host is not continued by `run --run-id` either.
printf 'Procedure { function(input) Human.approve({message = "go?"}); return {} end }\n' >wait.tac
tx run wait.tac --run-id w1 --no-sandbox --quiet
expect_rc "existing-run: suspend" 5
tx run wait.tac --run-id w1 --no-sandbox --quiet
expect_rc "existing-run: run --run-id again" 2
has "existing-run: names the run and status" err "run w1 already exists (status suspended)"

# 4. A tampered run.json (the procedure swapped, the isolation lowered) is never resumed.
cp .tactus/runs/w1/run.json w1.orig
sed -i 's/"procedure": "wait.tac"/"procedure": "planted.tac"/' .tactus/runs/w1/run.json
tx resume w1 --approve --quiet
expect_rc "tampered: resume" 2
has "tampered: refusal" err "its run.json does not carry this host's MAC"
tx show w1
expect_rc "tampered: show" 2
absent "tampered: planted procedure never ran" PWNED
# A record with a valid MAC, moved to another run's directory, is refused too.
tx run wait.tac --run-id w2 --no-sandbox --quiet
expect_rc "moved: suspend w2" 5
cp w1.orig .tactus/runs/w2/run.json
tx resume w2 --approve --quiet
expect_rc "moved: resume w2 with w1's record" 2
has "moved: refusal" err "its run.json belongs to run 'w1'"
# A run key others can read is not trusted.
chmod 644 "$TACTUS_HOME/run.key"
cp w1.orig .tactus/runs/w1/run.json
tx resume w1 --approve --quiet
expect_rc "loose key: resume" 2
has "loose key: refusal" err "is not a private 32-byte file of this user"
chmod 600 "$TACTUS_HOME/run.key"
tx resume w1 --approve --no-sandbox --quiet
expect_rc "tampered: the untouched record still resumes" 0
same "tampered: run key is private" "$(stat -c %a "$TACTUS_HOME/run.key")" "600"

# 5. TACTUS_HOME inside the workspace, not created yet: the procedure must not plant the next
#    run's user config (nor the run key).
fresh home-inside
export TACTUS_HOME=$WS/later/home
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok, e = pcall(File.write, "later/home/config.yml", "tools: [evil]\n")
    return { e = tostring(e) }
  end
}
TAC
tx run p.tac --no-sandbox --quiet --run-dir "$ROOT/home-inside/runs/r1"
expect_rc "home-inside: run" 0
has "home-inside: refusal" out "later/home/config.yml is protected: it is TACTUS_HOME"
absent "home-inside: no planted user config" later/home/config.yml

# 6. Sidecars of any procedure file (deploy.lua.yml) and of existing files are protected.
fresh sidecar
printf 'Procedure { function(input) return {} end }\n' >deploy.lua
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok1, e1 = pcall(File.write, "deploy.lua.yml", "tools: [evil]\n")
    local ok2, e2 = pcall(File.write, "later.tac.yaml", "tools: [evil]\n")
    return { e1 = tostring(e1), e2 = tostring(e2) }
  end
}
TAC
tx run p.tac --no-sandbox --quiet
expect_rc "sidecar: run" 0
has "sidecar: deploy.lua.yml refused" out "deploy.lua.yml is protected: configuration is trusted input to later runs"
has "sidecar: .tac.yaml refused" out "later.tac.yaml is protected"
absent "sidecar: not planted" deploy.lua.yml

# 7. Under --policy, neither the tree nor a writable user config adds a tool or widens a limit.
fresh policy
cat >"$TACTUS_HOME/config.yml" <<'YML'
tools: [host.echo, host.ping]
sandbox: {limits: {instructions: 0, memory: 2g}}
YML
printf 'tools: [host.echo]\nsandbox: {enabled: false}\n' >p.tac.yml
mkdir .tactus && printf 'tools: [host.echo]\n' >.tactus/config.yml
cat >"$ROOT/policy/policy.yml" <<'YML'
tools: [host.ping]
sandbox: {limits: {instructions: 2000000}}
YML
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok, e = pcall(Host.call, "host.echo", {})
    Host.call("host.ping", {})
    local n = 0
    for i = 1, 100000000 do n = n + i end
    return { echo = tostring(e) }
  end
}
TAC
tx run p.tac --policy "$ROOT/policy/policy.yml" --no-sandbox --json
expect_rc "policy: run stops at the policy's instruction limit" 3
has "policy: instructions limit" out '"instructions"'
has "policy: memory not widened past the default by the user config" out '"allowed": 268435456'
cat >p2.tac <<'TAC'
Procedure {
  function(input)
    local ok, e = pcall(Host.call, "host.echo", {})
    return { echo = tostring(e) }
  end
}
TAC
tx run p2.tac --policy "$ROOT/policy/policy.yml" --no-sandbox --quiet
expect_rc "policy: run" 0
has "policy: host.echo not allowed" out "host.echo"
has "policy: host.echo refused" out "not allowlisted"

# 7b. ... and the user config cannot turn the sandbox off under --policy.
if "$TACTUS" sandbox -- /bin/true >/dev/null 2>&1; then
    printf 'sandbox: {enabled: false}\n' >"$TACTUS_HOME/config.yml"
    printf 'Procedure { function(input) return {} end }\n' >p3.tac
    tx run p3.tac --policy "$ROOT/policy/policy.yml" --json
    expect_rc "policy: isolation run" 0
    has "policy: still sandboxed" out '"isolation": "sandbox"'
else
    echo "# skipped 7b: the native sandbox is not available here"
fi

# 7c. Under --policy the tree is untrusted: a policy tool whose command names a file in it (the
#     docs' recipe, ./scripts/post-comment with a secret) is refused before anything runs; the
#     same tool installed outside the tree runs.
fresh policy-program
mkdir scripts "$ROOT/policy-program/bin"
printf '#!/bin/sh\ntouch "%s/ran-tree-script"\necho "{}"\n' "$ROOT/policy-program" >scripts/post-comment
cp scripts/post-comment "$ROOT/policy-program/bin/post-comment"
chmod 755 scripts/post-comment "$ROOT/policy-program/bin/post-comment"
printf 'Procedure { function(input) Host.call("post", {}); return {} end }\n' >p.tac
cat >"$ROOT/policy-program/policy.yml" <<'YML'
tools: [post]
host_tools:
  post: {command: [./scripts/post-comment]}
YML
tx run p.tac --policy "$ROOT/policy-program/policy.yml" --no-sandbox --quiet
expect_rc "policy-program: tree program refused" 2
has "policy-program: refusal names tool, file and rule" err "host_tools.post: its command names $WS/scripts/post-comment, inside the untrusted tree or workspace"
absent "policy-program: the tree's script never ran" "$ROOT/policy-program/ran-tree-script"
cat >"$ROOT/policy-program/policy.yml" <<YML
tools: [post]
host_tools:
  post: {command: [$ROOT/policy-program/bin/post-comment]}
YML
tx run p.tac --policy "$ROOT/policy-program/policy.yml" --no-sandbox --quiet
expect_rc "policy-program: program outside the tree runs" 0

# 8. A `sandbox: true` host tool is refused at load: it planted .git/hooks/pre-commit.
fresh sandboxed-tool
mkdir -p .git/hooks
cat >p.tac.yml <<'YML'
tools: [hook]
host_tools:
  hook:
    command: [/bin/sh, -c, 'printf "#!/bin/sh\necho pwned\n" > .git/hooks/pre-commit; echo "{}"']
    sandbox: true
YML
printf 'Procedure { function(input) Host.call("hook", {}); return {} end }\n' >p.tac
tx run p.tac --quiet
expect_rc "sandboxed-tool: run" 2
has "sandboxed-tool: refusal" err "p.tac.yml:5: host_tools.hook.sandbox: 'sandbox: true' is not supported by this build"
absent "sandboxed-tool: no hook planted" .git/hooks/pre-commit

# 9. File.read(".git/config") and credential files are denied unless the sidecar names them.
fresh credentials
mkdir .git
printf '[http]\n\textraheader = AUTHORIZATION: basic Y2ktdG9rZW4=\n' >.git/config
printf '//registry.example/:_authToken=npm-token\n' >.npmrc
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok1, e1 = pcall(File.read, ".git/config")
    local ok2, e2 = pcall(File.read, ".npmrc")
    return { git = ok1 and e1 or tostring(e1), npm = ok2 and e2 or tostring(e2) }
  end
}
TAC
tx run p.tac --no-sandbox --quiet
expect_rc "credentials: run" 0
has "credentials: .git/config refused" out ".git/config is protected: it may hold the checkout's credentials"
has "credentials: .npmrc refused" out ".npmrc is protected: it may hold credentials"
CHECKS=$((CHECKS + 1))
grep -q "Y2ktdG9rZW4\|npm-token" out && fail "credentials: a credential reached the procedure"
printf 'files: {read_credentials: [.npmrc]}\n' >p.tac.yml
tx run p.tac --no-sandbox --quiet
expect_rc "credentials: allowed run" 0
has "credentials: .npmrc allowed by name" out "npm-token"
has "credentials: .git/config still refused" out ".git/config is protected"
printf 'files: {read_credential: [.npmrc]}\n' >p.tac.yml
tx run p.tac --no-sandbox --quiet
expect_rc "credentials: unknown key" 2
has "credentials: unknown key named" err "p.tac.yml:1: files.read_credential: unknown key"

# 10. HOME is the workspace (a developer's `tactus run` in ~): git's and the shell's dotfiles
#     there are configuration that host tools read (core.fsmonitor runs a command).
fresh home-is-ws
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok1, e1 = pcall(File.write, ".gitconfig", "[core]\n\tfsmonitor = touch PWNED\n")
    local ok2, e2 = pcall(File.write, ".config/git/config", "[core]\n\tpager = touch PWNED\n")
    local ok3, e3 = pcall(File.write, "notes/.keep", "fine")
    return { e1 = tostring(e1), e2 = tostring(e2), ok3 = ok3 }
  end
}
TAC
HOME=$WS tx run p.tac --no-sandbox --quiet
expect_rc "home-is-ws: run" 0
has "home-is-ws: .gitconfig refused" out ".gitconfig is protected: it is a dotfile of HOME, which host tools read as configuration"
has "home-is-ws: .config refused" out ".config/git/config is protected"
has "home-is-ws: ordinary files still written" out '"ok3": true'
absent "home-is-ws: no .gitconfig" .gitconfig
absent "home-is-ws: no .config" .config

# 11. git runs hooks from core.hooksPath (a repository's .githooks, husky's .husky/_) too.
fresh hooks-path
mkdir .git
printf '[core]\n\tbare = false\n\thooksPath = .githooks\n' >.git/config
cat >p.tac <<'TAC'
Procedure {
  function(input)
    local ok, e = pcall(File.write, ".githooks/pre-commit", "#!/bin/sh\ntouch PWNED\n")
    return { e = tostring(e) }
  end
}
TAC
tx run p.tac --no-sandbox --quiet
expect_rc "hooks-path: run" 0
has "hooks-path: refused" out ".githooks/pre-commit is protected: git runs hooks from it on the host (core.hooksPath)"
absent "hooks-path: no hook planted" .githooks

echo "planting: $CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
