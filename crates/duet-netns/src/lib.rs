//! Linux network-namespace test harness: two home networks behind NAT routers
//! plus a public "mirror" server, built from `ip netns` + veth + bridge + nftables.
//!
//! ```text
//!  hA 10.1.0.2 --[eth0 | lan]-- rA 10.1.0.1 / 203.0.113.1 --[wan | pa]--+
//!                                                                      pub: bridge br0 (203.0.113.254)
//!  hB 10.2.0.2 --[eth0 | lan]-- rB 10.2.0.1 / 203.0.113.2 --[wan | pb]--+--[pm | eth0]-- mirror 203.0.113.10
//! ```
//!
//! * Every instance gets its own namespaces, named
//!   `nsh-<pid>-<pid start time>-<counter>-<role>`; interface names are fixed
//!   and short because they only need to be unique inside one namespace. Veths
//!   are created directly inside the namespaces (`ip -n X link add .. peer ..
//!   netns Y`), so nothing ever appears in the root namespace.
//! * Routers: `ip_forward=1`, nftables masquerade of everything leaving `wan`
//!   ([`NatKind::Cone`]: plain `masquerade`, keeps source ports, so the mapping
//!   is endpoint independent; [`NatKind::Symmetric`]: `masquerade
//!   random,fully-random`, a fresh random port per connection), a forward
//!   filter that only lets LAN->WAN and established/related traffic through,
//!   and an input filter that silently drops unsolicited WAN traffic (no RST,
//!   which is what lets TCP simultaneous open work).
//! * Teardown (explicit [`Net::close`] or `Drop`, which also runs on panic
//!   unwind) kills every process still inside the namespaces and deletes them.
//!   Namespaces left behind by a process that died without unwinding (abort,
//!   SIGKILL) are removed by [`cleanup_stale`], which [`Net::new`] calls.
//!
//! Requires root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and nftables.
//! Only std is used. duet's tests across network boundaries
//! (`tests/nat.rs`) and the benchmark's figures through a relay use it.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Every namespace created by this harness starts with this.
pub const NS_PREFIX: &str = "nsh-";

/// Public network (documentation range TEST-NET-3, never routed on the Internet).
pub const PUBLIC_PREFIX_LEN: u8 = 24;
pub const PUBLIC_SWITCH_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
pub const MIRROR_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub const ROUTER_A_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const ROUTER_B_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Home networks (RFC 1918).
pub const LAN_PREFIX_LEN: u8 = 24;
pub const ROUTER_A_LAN: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const ROUTER_B_LAN: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
pub const HOST_A_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
pub const HOST_B_ADDR: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How a home router translates outgoing connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// `masquerade`: source port kept whenever the 5-tuple is free
    /// (endpoint-independent mapping, address+port dependent filtering).
    /// Two of these allow TCP hole punching by simultaneous open.
    Cone,
    /// `masquerade random,fully-random`: new random public port for every
    /// connection (endpoint-dependent mapping). Defeats hole punching.
    Symmetric,
}

impl NatKind {
    /// The nft statement used in the router's postrouting chain.
    pub fn nft_statement(self) -> &'static str {
        match self {
            NatKind::Cone => "masquerade",
            NatKind::Symmetric => "masquerade random,fully-random",
        }
    }
}

/// A namespace of the topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// The "Internet": a bridge joining the mirror and both routers' WAN sides.
    Public,
    /// Public server at [`MIRROR_ADDR`].
    Mirror,
    RouterA,
    RouterB,
    /// Device behind router A at [`HOST_A_ADDR`].
    HostA,
    /// Device behind router B at [`HOST_B_ADDR`].
    HostB,
}

impl Node {
    pub const ALL: [Node; 6] = [
        Node::Public,
        Node::Mirror,
        Node::RouterA,
        Node::RouterB,
        Node::HostA,
        Node::HostB,
    ];

    fn role(self) -> &'static str {
        match self {
            Node::Public => "pub",
            Node::Mirror => "mirror",
            Node::RouterA => "ra",
            Node::RouterB => "rb",
            Node::HostA => "ha",
            Node::HostB => "hb",
        }
    }
}

/// One instance of the topology. Dropping it tears everything down.
pub struct Net {
    prefix: String,
    nat: [NatKind; 2],
    /// Namespaces created so far (also used to clean up a half-built Net).
    created: Vec<String>,
    setup_time: Duration,
}

impl Net {
    /// Builds the whole topology. On error, whatever was created is removed.
    pub fn new(nat_a: NatKind, nat_b: NatKind) -> io::Result<Net> {
        let start = Instant::now();
        if let Err(e) = cleanup_stale() {
            eprintln!("netns-harness: stale namespace cleanup failed: {e}");
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut net = Net {
            prefix: format!("{NS_PREFIX}{}-{n}-", self_tag()),
            nat: [nat_a, nat_b],
            created: Vec::new(),
            setup_time: Duration::ZERO,
        };
        for node in Node::ALL {
            let name = net.ns(node);
            run(Command::new("ip").args(["netns", "add", &name]))?;
            net.created.push(name);
        }
        net.configure()?; // on error `net` is dropped here => torn down
        net.setup_time = start.elapsed();
        Ok(net)
    }

    fn configure(&self) -> io::Result<()> {
        let (mirror, ra, rb) = (
            self.ns(Node::Mirror),
            self.ns(Node::RouterA),
            self.ns(Node::RouterB),
        );
        // The switch: bridge + one veth per attached namespace, the peer end
        // created directly in the attached namespace.
        let public = format!(
            "link set lo up\n\
             link add name br0 type bridge\n\
             addr add {PUBLIC_SWITCH_ADDR}/{PUBLIC_PREFIX_LEN} dev br0\n\
             link set br0 up\n\
             link add name pm type veth peer name eth0 netns {mirror}\n\
             link add name pa type veth peer name wan netns {ra}\n\
             link add name pb type veth peer name wan netns {rb}\n\
             link set pm master br0\nlink set pa master br0\nlink set pb master br0\n\
             link set pm up\nlink set pa up\nlink set pb up\n"
        );
        ip_batch(&self.ns(Node::Public), &public)?;
        ip_batch(
            &mirror,
            &format!(
                "link set lo up\n\
                 addr add {MIRROR_ADDR}/{PUBLIC_PREFIX_LEN} dev eth0\n\
                 link set eth0 up\n"
            ),
        )?;
        for (router, host, wan, lan, haddr, nat) in [
            (
                Node::RouterA,
                Node::HostA,
                ROUTER_A_WAN,
                ROUTER_A_LAN,
                HOST_A_ADDR,
                self.nat[0],
            ),
            (
                Node::RouterB,
                Node::HostB,
                ROUTER_B_WAN,
                ROUTER_B_LAN,
                HOST_B_ADDR,
                self.nat[1],
            ),
        ] {
            let (rns, hns) = (self.ns(router), self.ns(host));
            ip_batch(
                &rns,
                &format!(
                    "link set lo up\n\
                     addr add {wan}/{PUBLIC_PREFIX_LEN} dev wan\n\
                     link set wan up\n\
                     link add name lan type veth peer name eth0 netns {hns}\n\
                     addr add {lan}/{LAN_PREFIX_LEN} dev lan\n\
                     link set lan up\n"
                ),
            )?;
            ip_batch(
                &hns,
                &format!(
                    "link set lo up\n\
                     addr add {haddr}/{LAN_PREFIX_LEN} dev eth0\n\
                     link set eth0 up\n\
                     route add default via {lan}\n"
                ),
            )?;
            // ip_forward + ruleset in one spawn.
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &rns, "sh", "-c"])
                .arg("echo 1 > /proc/sys/net/ipv4/ip_forward && exec nft -f -");
            run_with_stdin(&mut cmd, &router_ruleset(nat))?;
        }
        Ok(())
    }

    /// Name of the namespace backing `node` (usable with `ip netns exec`, `ip -n`).
    pub fn ns(&self, node: Node) -> String {
        format!("{}{}", self.prefix, node.role())
    }

    /// Common prefix of all namespace names of this instance.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// All namespace names of this instance.
    pub fn namespaces(&self) -> Vec<String> {
        Node::ALL.iter().map(|n| self.ns(*n)).collect()
    }

    pub fn nat_kind(&self, router: Node) -> Option<NatKind> {
        match router {
            Node::RouterA | Node::HostA => Some(self.nat[0]),
            Node::RouterB | Node::HostB => Some(self.nat[1]),
            _ => None,
        }
    }

    /// The node's own address: WAN address for routers, LAN address for hosts,
    /// bridge address for `Public`.
    pub fn addr(&self, node: Node) -> Ipv4Addr {
        match node {
            Node::Public => PUBLIC_SWITCH_ADDR,
            Node::Mirror => MIRROR_ADDR,
            Node::RouterA => ROUTER_A_WAN,
            Node::RouterB => ROUTER_B_WAN,
            Node::HostA => HOST_A_ADDR,
            Node::HostB => HOST_B_ADDR,
        }
    }

    /// The address the node's traffic appears from on the public network
    /// (its router's WAN address for hosts).
    pub fn public_addr(&self, node: Node) -> Ipv4Addr {
        match node {
            Node::HostA => ROUTER_A_WAN,
            Node::HostB => ROUTER_B_WAN,
            other => self.addr(other),
        }
    }

    /// Default gateway of a host / LAN address of a router.
    pub fn lan_gateway(&self, node: Node) -> Option<Ipv4Addr> {
        match node {
            Node::HostA | Node::RouterA => Some(ROUTER_A_LAN),
            Node::HostB | Node::RouterB => Some(ROUTER_B_LAN),
            _ => None,
        }
    }

    /// `ip netns exec <ns> program args...`, ready to be configured/spawned.
    /// Processes still running inside the namespace at teardown are SIGKILLed.
    pub fn command<I, S>(&self, node: Node, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec"])
            .arg(self.ns(node))
            .arg(program)
            .args(args);
        cmd
    }

    /// Runs a command in `node` to completion; error if it exits non-zero.
    pub fn exec<I, S>(&self, node: Node, program: impl AsRef<OsStr>, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(&mut self.command(node, program, args))
    }

    /// Waits until something in `node` listens on TCP `port` (reads
    /// /proc/net/tcp{,6} from inside the namespace).
    pub fn wait_tcp_listen(&self, node: Node, port: u16, timeout: Duration) -> io::Result<()> {
        self.wait_socket(node, "tcp", port, Some("0A"), timeout) // 0A = TCP_LISTEN
    }

    /// Waits until a UDP socket in `node` is bound to `port`.
    pub fn wait_udp_bound(&self, node: Node, port: u16, timeout: Duration) -> io::Result<()> {
        self.wait_socket(node, "udp", port, None, timeout)
    }

    fn wait_socket(
        &self,
        node: Node,
        proto: &str,
        port: u16,
        state: Option<&str>,
        timeout: Duration,
    ) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let (v4, v6) = (format!("/proc/net/{proto}"), format!("/proc/net/{proto}6"));
        loop {
            // /proc/net is per network namespace of the reading process.
            let out = self
                .command(node, "cat", [&v4, &v6])
                .stderr(Stdio::null())
                .output()?;
            if socket_table_has(&String::from_utf8_lossy(&out.stdout), port, state) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no {proto} socket on port {port} in {}", self.ns(node)),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nft list ruleset` inside `node` (routers: shows the drop counters).
    pub fn nft_ruleset(&self, node: Node) -> io::Result<String> {
        let out = self.exec(node, "nft", ["list", "ruleset"])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// How long `new` took.
    pub fn setup_duration(&self) -> Duration {
        self.setup_time
    }

    /// Explicit teardown that reports errors (Drop only prints them).
    pub fn close(mut self) -> io::Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> io::Result<()> {
        let names = std::mem::take(&mut self.created);
        remove_namespaces(&names)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("netns-harness: teardown of {}* failed: {e}", self.prefix);
        }
    }
}

fn router_ruleset(nat: NatKind) -> String {
    // Input drops (not rejects) unsolicited WAN packets: an RST for the first,
    // early SYN of a simultaneous open would abort the peer's connect().
    format!(
        "table ip nsh {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\toifname \"wan\" {}\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tct state established,related accept\n\
         \t\tiifname \"lan\" oifname \"wan\" accept\n\
         \t\tcounter drop\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"wan\" ct state established,related accept\n\
         \t\tiifname \"wan\" icmp type echo-request accept\n\
         \t\tiifname \"wan\" counter drop\n\
         \t}}\n\
         }}\n",
        nat.nft_statement()
    )
}

/// The nft ruleset a router of this kind gets (for logs/reports).
pub fn router_ruleset_text(nat: NatKind) -> String {
    router_ruleset(nat)
}

/// `Ok(())` if namespaces can be built here, otherwise why not.
/// The result (including a real probe: create a namespace, load an nft
/// table in it, delete it) is computed once per process.
pub fn available() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(check_available).clone()
}

fn check_available() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces need Linux".into());
    }
    match effective_uid() {
        Some(0) => {}
        Some(uid) => return Err(format!("needs root (effective uid is {uid})")),
        None => return Err("cannot read effective uid from /proc/self/status".into()),
    }
    for (tool, arg) in [("ip", "-V"), ("nft", "--version")] {
        match Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(format!("`{tool} {arg}` failed ({s})")),
            Err(e) => return Err(format!("`{tool}` not runnable: {e}")),
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let probe = format!("{NS_PREFIX}{}-{n}-probe", self_tag());
    run(Command::new("ip").args(["netns", "add", &probe]))
        .map_err(|e| format!("cannot create a network namespace: {e}"))?;
    let r = run(Command::new("ip").args(["netns", "exec", &probe, "nft", "add table ip nshprobe"]))
        .map(|_| ())
        .map_err(|e| format!("nftables unusable inside a namespace: {e}"));
    let _ = remove_namespaces(&[probe]);
    r
}

/// Names of all network namespaces (`ip netns list`).
pub fn list_namespaces() -> io::Result<Vec<String>> {
    let out = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// Removes namespaces created by harness processes that no longer exist
/// (crash, abort, SIGKILL). Returns the removed names.
pub fn cleanup_stale() -> io::Result<Vec<String>> {
    let stale: Vec<String> = list_namespaces()?
        .into_iter()
        .filter(|name| is_stale(name))
        .collect();
    if !stale.is_empty() {
        remove_namespaces(&stale)?;
    }
    Ok(stale)
}

/// `nsh-<pid>-<starttime>-...` whose process is gone (or the pid was reused).
fn is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(NS_PREFIX) else {
        return false;
    };
    let mut it = rest.split('-');
    let (Some(pid), Some(start)) = (it.next(), it.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    proc_start_time(pid) != Some(start)
}

/// Kills every process inside the namespaces, then deletes them. Keeps going
/// on errors and returns the first one.
fn remove_namespaces(names: &[String]) -> io::Result<()> {
    let mut first_err = None;
    let mut pids = Vec::new();
    for name in names {
        match run(Command::new("ip").args(["netns", "pids", name])) {
            Ok(out) => pids.extend(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter(|p| p.parse::<u32>().is_ok_and(|p| p != std::process::id()))
                    .map(str::to_owned),
            ),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if !pids.is_empty() {
        // Failure is fine: a process may have exited meanwhile.
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let mut batch = String::new();
    for name in names {
        let _ = writeln!(batch, "netns delete {name}");
    }
    if !batch.is_empty() {
        let mut cmd = Command::new("ip");
        cmd.args(["-force", "-batch", "-"]);
        if let Err(e) = run_with_stdin(&mut cmd, &batch) {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        // Errors about namespaces that are gone anyway (e.g. a concurrent
        // cleanup_stale removed them first) don't count.
        Some(e) if names.iter().any(|n| netns_exists(n)) => Err(e),
        _ => Ok(()),
    }
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Does a /proc/net/{tcp,udp}[6] table have a socket on local `port`
/// (in `state`, hex, if given)?
fn socket_table_has(table: &str, port: u16, state: Option<&str>) -> bool {
    table.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3
            && f[0] != "sl"
            && state.is_none_or(|s| f[3] == s)
            && f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
                == Some(port)
    })
}

fn ip_batch(ns: &str, script: &str) -> io::Result<Output> {
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns, "-batch", "-"]);
    run_with_stdin(&mut cmd, script)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn check(cmd: &Command, out: Output, input: Option<&str>) -> io::Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    let mut msg = format!(
        "`{}` failed ({}): {}",
        describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if let Some(input) = input {
        let _ = write!(msg, "\n--- stdin ---\n{input}");
    }
    Err(io::Error::other(msg))
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    check(cmd, out, None)
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    } // stdin dropped => EOF
    let out = child.wait_with_output()?;
    check(cmd, out, Some(input))
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Start time (clock ticks since boot, field 22 of /proc/PID/stat).
fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Fields after comm start at field 3 (state), so field 22 is index 19.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// `<pid>-<start time>` of this process, so names of a reused pid differ.
fn self_tag() -> String {
    let pid = std::process::id();
    format!("{pid}-{}", proc_start_time(pid).unwrap_or(0))
}
