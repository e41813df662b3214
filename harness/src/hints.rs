//! Hints: a plain-words sentence for the mistakes students really make, recognised from the
//! whole story of a failing run: how the step failed, what arrived, how the peer had ended
//! the connection, the exit and the exception the program died of. A wrong hint is worse
//! than none, so each one asks for all the evidence that makes it right.

use crate::script::Role;
use crate::session::PeerEnd;
use serde::Serialize;

/// A known mistake. Its id (`eof-loop`) is the variant's name in kebab case, derived once
/// (strum): the JSON, the reports, the case files' `hint` lines and the corpus's
/// expectations all read this one table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Hint {
    EofLoop,
    StdinEofTraceback,
    StdinEofSpin,
    NotListening,
    ExitedAtStart,
    BufferedOutput,
    NotClosed,
    OneClientOnly,
    ResetUncaught,
    ServerCloseIgnored,
    UnicodeUpper,
    TrailingNewline,
    StderrMissing,
    StderrDeadlock,
    QuitIgnored,
    EmptyLineSent,
    BigEndianLength,
    HeaderWithoutPrefix,
    HeaderNotStrict,
    TotalSizeStdoutOnly,
    PrefixAssumedWhole,
    SingleRecvBody,
    SizeUnchecked,
    #[strum(serialize = "reply-fixed-address")]
    ReplyToFixedAddress,
    EmptyMessageSent,
    RecvNoAddress,
    ServerFirstOnly,
    StderrOrder,
    CloseBetweenExchanges,
    LengthCountsCharacters,
}

impl Hint {
    pub const ALL: &'static [Hint] = <Hint as strum::VariantArray>::VARIANTS;

    /// The stable name used in JSON reports and in the corpus's expectations.
    pub fn id(self) -> &'static str {
        self.into()
    }

    pub fn from_id(id: &str) -> Option<Hint> {
        id.parse().ok()
    }

    /// The advice in the language of the run ([`language`]).
    pub fn text(self) -> &'static str {
        self.text_in(language())
    }

    pub fn text_in(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.english(),
            Lang::Zh => self.chinese(),
        }
    }

    /// In the tutorial's own terms (粘包, 报头, 通信循环, 连接循环).
    fn chinese(self) -> &'static str {
        match self {
            Hint::EofLoop => "客户端关闭连接后，你的服务端还在通信循环里打转：在 Linux 上对方正常关闭时 recv 返回 b''（只有对方重置连接才抛出 ConnectionResetError），所以除了 except 还需要 `if not data: break`",
            Hint::StdinEofTraceback => "输入结束时你的程序因 EOFError 报错退出：在 input() 外捕获 EOFError 并正常结束（它的工作已经完成，所以只算不严格）",
            Hint::StdinEofSpin => "输入结束后你的程序一直不退出：input() 不断抛出 EOFError（或 readline() 不断返回 ''），应在那里跳出循环，而不是继续",
            Hint::NotListening => "你的服务端在运行，但没有在测试要求的地址上监听（检查传给 bind 的主机和端口）",
            Hint::ExitedAtStart => "你的程序还没服务任何人就退出了：请看下面 stderr 末尾的错误信息",
            Hint::BufferedOutput => "你的程序的输出直到退出时才出现：stdout 有缓冲，每次 print 后都要刷新（print(..., flush=True)、sys.stdout.flush()、fflush）",
            Hint::NotClosed => "客户端结束数据流后，你的服务端一直没有关闭连接：对话结束时调用 conn.close()",
            Hint::OneClientOnly => "你的服务端服务完第一个客户端就停了：每次对话结束后回到 accept()（连接循环），并保持监听套接字打开",
            Hint::ResetUncaught => "客户端重置连接时你的服务端因 ConnectionResetError 退出：在 recv/send 外捕获它并结束这次对话（异常关闭也是客户端离开的正常方式）",
            Hint::ServerCloseIgnored => "服务端关闭连接后你的客户端还在继续：recv 返回了 b''（数据流结束），应关闭套接字并退出，而不是再进入循环",
            Hint::UnicodeUpper => "你的服务端把解码后的文本转成了大写，非 ASCII 字母也变了（é 变成了 É）：bytes.upper() 只改变字节中的 ASCII 字母",
            Hint::TrailingNewline => "你的程序在消息后面多发了一个换行：只发送消息本身的字节（input() 已经去掉了换行，不要再加）",
            Hint::StderrMissing => "回复在命令的 stdout 之后就结束了：把 stderr 紧接在 stdout 之后放进同一个回复（stdout + stderr）",
            Hint::StderrDeadlock => "命令向 stderr 写了超过 64 KiB 后你的服务端不再回复：先把 stdout 读到底再读 stderr，会在 stderr 管道写满后永远等待；请同时读取两者（proc.communicate()）",
            Hint::QuitIgnored => "Q（或 q）无论怎么输入都必须结束对话（去掉首尾空格并转成大写后再比较）：客户端发送它后立即关闭，服务端不回复、关闭连接并回到 accept()",
            Hint::EmptyLineSent => "你的客户端发送了空行（或只有空白的行）：send(b'') 什么也不发，服务端的 recv 会一直等待，所以要 strip() 输入，拒绝空行并重新询问",
            Hint::BigEndianLength => "你的长度前缀是大端序：按大端读这四个字节长度是对的，但约定是 struct.pack('i', n)，即小端序（用 'i' 或 '<i'，不要用 '!i' 或 '>i'）",
            Hint::HeaderWithoutPrefix => "你的服务端发送 JSON 报头前没有先发 4 字节的报头长度：先发 struct.pack('i', len(header_bytes))，再发报头，最后发数据",
            Hint::HeaderNotStrict => "你的报头能用，但 md5 应是数据的真实摘要（hashlib.md5(body).hexdigest()，而不是 fdsaf2143254f 这样的占位符），并且应按教程的名字带上 file_name 和 md5",
            Hint::TotalSizeStdoutOnly => "total_size 只算了 stdout，但数据是 stdout 后面跟着 stderr：取你发送的整个数据的长度",
            Hint::PrefixAssumedWhole => "你的客户端假定 4 字节的长度一次 recv 就能收全：TCP 没有消息边界（粘包），可能分几次送达，要一直读到 4 个字节再解包",
            Hint::SingleRecvBody => "你的客户端在收满报头声明的长度之前就停止读取数据了：recv 返回已经到达的数据（最多到所给的大小），所以要循环，直到实际收到的字节数（len(data)，不是你请求的大小）加起来等于它",
            Hint::SizeUnchecked => "负数的长度或 total_size，或超过你的限制的值，是协议错误：一旦从长度前缀或报头得知就拒绝它（打印错误，以非零状态退出），而不是当作空数据、等待那么多字节或继续",
            Hint::ReplyToFixedAddress => "你的服务端回复了发送者以外的地址：用 sendto(reply, addr) 回复 recvfrom 为这条消息返回的 addr（不是固定地址，不是第一个客户端的，也不是最后收到消息的那个）",
            Hint::EmptyMessageSent => "你的客户端发送了空消息：在 UDP 中 sendto(b'') 会发出一个空数据报，这是服务端会回复的真实消息；跳过空输入并重新询问（`if not msg: continue`）",
            Hint::RecvNoAddress => "你的服务端用 recv() 读取，它不告诉你数据报是谁发的，所以没有地址可以回复（发送失败：Destination address required）：用 msg, addr = recvfrom(1024)，再 sendto(reply, addr)",
            Hint::ServerFirstOnly => "你的客户端只有在服务端先启动时才能工作：服务端启动前发出的数据报换来了 ICMP 端口不可达，connect() 过的 UDP 套接字会把它变成 ConnectionRefusedError；UDP 是无连接的，请在未 connect 的套接字上用 sendto/recvfrom，这样先启动哪一端都可以",
            Hint::StderrOrder => "回复中命令输出的顺序不对：先发全部 stdout，再发全部 stderr（两个管道 stdout=PIPE 和 stderr=PIPE，按 stdout + stderr 拼接；stderr=STDOUT 会按命令写出的顺序混在一起）",
            Hint::CloseBetweenExchanges => "服务端在两次交互之间关闭了连接（recv 返回 b''，或重置连接抛出 ConnectionResetError），而你的客户端报错退出了：这是对话的结束，不是失败，所以关闭套接字并以 0 退出",
            Hint::LengthCountsCharacters => "你的长度算的是字符数，不是字节数：一个非 ASCII 字符在 UTF-8 中占多个字节，所以要声明你发送的字节的 len()，而不是解码后文本的",
        }
    }

    fn english(self) -> &'static str {
        match self {
            Hint::EofLoop => {
                "after the client closed, your server kept going round its loop: on Linux an \
                 ordinary close makes recv return b'' (it raises ConnectionResetError only for a \
                 reset), so `if not data: break` is needed besides the except"
            }
            Hint::StdinEofTraceback => {
                "your program dies with a traceback (EOFError) when its input ends: catch \
                 EOFError around input() and end cleanly (its work was done, so this is only \
                 non-strict)"
            }
            Hint::StdinEofSpin => {
                "your program never exits after its input ended: input() keeps raising EOFError \
                 (or readline() keeps returning ''), so leave the loop there instead of going on"
            }
            Hint::NotListening => {
                "your server is running but does not listen on the address the suite expects \
                 (check the host and port passed to bind)"
            }
            Hint::ExitedAtStart => {
                "your program exited before it served anyone: read the error at the end of its \
                 stderr below"
            }
            Hint::BufferedOutput => {
                "your program's output only appeared when it exited: stdout is buffered, so \
                 flush after each print (print(..., flush=True), sys.stdout.flush(), fflush)"
            }
            Hint::NotClosed => {
                "your server never closed the connection after the client's end of stream: call \
                 conn.close() when the conversation ends"
            }
            Hint::OneClientOnly => {
                "your server stopped after its first client: go back to accept() after each \
                 conversation and keep the listening socket open"
            }
            Hint::ResetUncaught => {
                "your server died of ConnectionResetError when a client reset its connection: \
                 catch it around recv/send and leave that conversation (an abortive close is \
                 an ordinary way for a client to go)"
            }
            Hint::ServerCloseIgnored => {
                "after the server closed the connection your client went on: recv returned \
                 b'' (end of stream), so close the socket and exit instead of going round the \
                 loop again"
            }
            Hint::UnicodeUpper => {
                "your server upper-cased the decoded text, so non-ASCII letters changed too \
                 (é became É): bytes.upper() changes only the ASCII letters of the bytes"
            }
            Hint::TrailingNewline => {
                "your program sends a newline after the message: send exactly the message's \
                 bytes (input() already strips the newline; do not add one)"
            }
            Hint::StderrMissing => {
                "the reply stopped after the command's stdout: send its stderr too, right \
                 after stdout, in the same reply (stdout + stderr)"
            }
            Hint::StderrDeadlock => {
                "your server stopped answering after a command wrote more than 64 KiB to \
                 stderr: reading stdout to its end before stderr waits forever once the stderr \
                 pipe is full; read both at once (proc.communicate())"
            }
            Hint::QuitIgnored => {
                "Q (or q) must end the conversation, however it was typed (compare the input \
                 once it is stripped of surrounding spaces, and upper-cased): the client sends it \
                 and closes at once, and the server closes the connection without replying and \
                 goes back to accept()"
            }
            Hint::EmptyLineSent => {
                "your client sent an empty (or blank) line: send(b'') sends nothing and the \
                 server's recv keeps waiting, so strip() the input, refuse an empty line and ask \
                 again"
            }
            Hint::BigEndianLength => {
                "your length prefix is big-endian: read as big-endian its four bytes give the \
                 right length, but the contract is struct.pack('i', n), little-endian (use \
                 'i' or '<i', not '!i' or '>i')"
            }
            Hint::HeaderWithoutPrefix => {
                "your server sent the JSON header without its 4-byte length first: send \
                 struct.pack('i', len(header_bytes)), then the header, then the body"
            }
            Hint::HeaderNotStrict => {
                "your header works, but its md5 should be the body's real digest \
                 (hashlib.md5(body).hexdigest(), not a placeholder like fdsaf2143254f), and it \
                 should carry file_name and md5 as the tutorial names them"
            }
            Hint::TotalSizeStdoutOnly => {
                "total_size counts only stdout, but the body is stdout followed by stderr: \
                 take the length of the whole body you send"
            }
            Hint::PrefixAssumedWhole => {
                "your client assumed the 4-byte length arrives in one recv: TCP may deliver it \
                 in pieces, so read until you have 4 bytes before unpacking it"
            }
            Hint::SingleRecvBody => {
                "your client stopped reading the body before it had the whole declared length: \
                 recv returns what has arrived, up to its size, so loop until the bytes you \
                 actually received (len(data), not the size you asked for) add up to it"
            }
            Hint::SizeUnchecked => {
                "a negative length or total_size, or one over your limit, is a protocol error: \
                 refuse it as soon as the prefix or header gives it (print an error, exit \
                 non-zero) instead of reading it as nothing, waiting for that many bytes, or \
                 going on"
            }
            Hint::ReplyToFixedAddress => {
                "your server answered another address than the sender's: reply with \
                 sendto(reply, addr) to the addr that recvfrom returned for this very message \
                 (not a fixed address, not the first client's, not the last one heard from)"
            }
            Hint::EmptyMessageSent => {
                "your client sent an empty message: in UDP sendto(b'') sends an empty \
                 datagram, a real message the server answers; skip empty input and ask again \
                 (`if not msg: continue`)"
            }
            Hint::RecvNoAddress => {
                "your server read with recv(), which does not say who sent the datagram, so \
                 it had no address to answer (the send failed: Destination address required): \
                 use msg, addr = recvfrom(1024), then sendto(reply, addr)"
            }
            Hint::ServerFirstOnly => {
                "your client only works when the server is already up: a datagram sent \
                 before the server started came back as ICMP port unreachable, which a \
                 connect()ed UDP socket turns into ConnectionRefusedError; UDP has no \
                 connection, so use sendto/recvfrom on an unconnected socket and either side \
                 may start first"
            }
            Hint::StderrOrder => {
                "the reply has the command's output in another order: send all of its stdout, \
                 then all of its stderr (two pipes, stdout=PIPE and stderr=PIPE, joined as \
                 stdout + stderr; stderr=STDOUT mixes them in the order the command wrote)"
            }
            Hint::CloseBetweenExchanges => {
                "the server closed the connection between two exchanges (recv returned b'', or \
                 a reset raised ConnectionResetError), and your client ended with an error: \
                 that is the end of the conversation, not a failure, so close the socket and \
                 exit 0"
            }
            Hint::LengthCountsCharacters => {
                "your length counts characters, not bytes: a non-ASCII character takes several \
                 bytes in UTF-8, so declare len() of the bytes you send, not of the decoded text"
            }
        }
    }
}

/// The language of hints and of the report's fixed words: `--lang`, else `SOCKCHECK_LANG`
/// (`zh` or `en`), else the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`: `zh_*` gives
/// Chinese), English otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `zh` or `en`.
    pub fn parse(word: &str) -> Option<Lang> {
        match word {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// `SOCKCHECK_LANG`'s language, else the locale's, as gettext reads it: the first of
    /// `LC_ALL`, `LC_MESSAGES`, `LANG` that is set and not empty.
    pub fn from_locale() -> Lang {
        if let Some(lang) = std::env::var("SOCKCHECK_LANG")
            .ok()
            .and_then(|w| Lang::parse(&w))
        {
            return lang;
        }
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if locale.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// The run's language: chosen once by the command line, read by every report.
static LANGUAGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets the run's language (the command line does, once, before any case runs).
pub fn set_language(lang: Lang) {
    LANGUAGE.store(lang == Lang::Zh, std::sync::atomic::Ordering::Relaxed);
}

pub fn language() -> Lang {
    if LANGUAGE.load(std::sync::atomic::Ordering::Relaxed) {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// A hint is written as its id everywhere (JSON, reports, expectations): one name, from
/// [`Hint::id`], never a second one derived from the variant's name.
impl Serialize for Hint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// How a failing step failed, as far as hints care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symptom {
    /// The implementation exited while the peer waited to connect or to be connected to, or
    /// it dropped a connection it never answered and exited.
    ExitedBeforeConnection,
    /// Alive, but nothing accepted the connection.
    NotListening,
    /// Bytes came where the fixture has none, or other bytes than the fixture's (`want`,
    /// where the fixture has exact bytes there).
    UnexpectedBytes {
        got: Vec<u8>,
        want: Option<Vec<u8>>,
    },
    /// A frame came whole, with another body than the fixture's (`want`, when the fixture
    /// has the exact bytes); `rest_follows`: the body is the start of the expected one and
    /// the rest came right after the frame (the declared length was short).
    WrongBody {
        got: Vec<u8>,
        want: Option<Vec<u8>>,
        rest_follows: bool,
    },
    /// The step itself recognised a known mistake (the four bytes of a length prefix read
    /// big-endian give the expected length).
    Declared(Hint),
    /// Part of the expected bytes came (`got` of them, perhaps none), then nothing more
    /// until the deadline, with the connection still open.
    Short {
        got: usize,
    },
    /// The connection stayed open where the fixture has its end; `spinning`: the program
    /// burnt CPU meanwhile (a loop going round) rather than waiting (blocked).
    StayedOpen {
        spinning: bool,
    },
    /// The process was still running where the fixture has its exit (`spinning` as above).
    StillRunning {
        spinning: bool,
    },
    /// The process exited with another status than the fixture's; `errored`: with an
    /// error (a non-zero status or a signal) where the fixture has success.
    WrongExit {
        errored: bool,
    },
    /// An expected printed line never came while the program ran, but did once it exited.
    PrintedOnlyAtExit,
    /// An expected printed line never came; `exited`: the program had died by then.
    LineMissing {
        exited: bool,
    },
    /// The program died while the peer was writing to it (the write found it gone).
    Died,
    Other,
}

/// The ways a step can fail that a case may declare a hint for (`hint <id> if <word>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymptomKind {
    /// Part of the expected bytes (at least one), then silence.
    Short,
    /// None of the expected bytes, then silence.
    Nothing,
    /// An expected printed line never came.
    Missing,
    /// An expected printed line never came because the program died first.
    Died,
    /// Other bytes than expected, or bytes where none were.
    Bytes,
    /// The connection stayed open.
    Open,
    /// The program was still running.
    Running,
    /// Another exit status.
    Exit,
}

impl SymptomKind {
    pub const WORDS: [&'static str; 8] = [
        "short", "nothing", "missing", "died", "bytes", "open", "running", "exit",
    ];

    pub fn from_word(word: &str) -> Option<SymptomKind> {
        Some(match word {
            "short" => SymptomKind::Short,
            "nothing" => SymptomKind::Nothing,
            "missing" => SymptomKind::Missing,
            "died" => SymptomKind::Died,
            "bytes" => SymptomKind::Bytes,
            "open" => SymptomKind::Open,
            "running" => SymptomKind::Running,
            "exit" => SymptomKind::Exit,
            _ => return None,
        })
    }

    /// Whether a symptom is of this kind.
    pub fn covers(self, symptom: &Symptom) -> bool {
        matches!(
            (self, symptom),
            (SymptomKind::Short, Symptom::Short { got: 1.. })
                | (SymptomKind::Nothing, Symptom::Short { got: 0 })
                | (SymptomKind::Missing, Symptom::LineMissing { .. })
                | (SymptomKind::Died, Symptom::LineMissing { exited: true })
                | (SymptomKind::Died, Symptom::Died)
                | (SymptomKind::Bytes, Symptom::UnexpectedBytes { .. })
                | (SymptomKind::Bytes, Symptom::WrongBody { .. })
                | (SymptomKind::Open, Symptom::StayedOpen { .. })
                | (SymptomKind::Running, Symptom::StillRunning { .. })
                | (SymptomKind::Exit, Symptom::WrongExit { .. })
        )
    }
}

impl Hint {
    /// Whether the evidence of a failure is what this hint names, for a hint a case
    /// declares: the way the step failed says where to look, and this says whether the
    /// bytes show the mistake (a reply with the right lines in another order is no
    /// missing stderr). Most hints need nothing more than the way of failing.
    pub fn fits(self, symptom: &Symptom) -> bool {
        // The hints that name what the bytes show; any other hint, whatever they are.
        if !matches!(
            self,
            Hint::StderrOrder | Hint::StderrMissing | Hint::TotalSizeStdoutOnly
        ) {
            return true;
        }
        let (got, want, rest_follows) = match symptom {
            Symptom::UnexpectedBytes { got, want } => (got, want, false),
            Symptom::WrongBody {
                got,
                want,
                rest_follows,
            } => (got, want, *rest_follows),
            // A reply that stopped short, or never came.
            _ => return self == Hint::StderrMissing,
        };
        // The body is cut where the declared length ends (a frame), or the reply stopped.
        let cut_short = want
            .as_ref()
            .is_some_and(|w| got.len() < w.len() && w.starts_with(got));
        match self {
            Hint::StderrOrder => want.as_ref().is_some_and(|w| reordered_lines(got, w)),
            Hint::StderrMissing => cut_short && !rest_follows,
            // What was left out came right after the frame: the length was wrong, not the body.
            _ => rest_follows,
        }
    }
}

/// A frame whose declared length is the number of characters of the expected body (UTF-8),
/// not its bytes: the body is the start of the expected one, and its rest followed.
pub fn counts_characters(got: &[u8], want: &[u8], rest_follows: bool) -> bool {
    rest_follows && std::str::from_utf8(want).is_ok_and(|w| w.chars().count() == got.len())
}

/// Whether `got` holds the lines of `want`, each as often, in another order.
pub fn reordered_lines(got: &[u8], want: &[u8]) -> bool {
    let lines = |b: &[u8]| {
        let mut l: Vec<Vec<u8>> = b
            .split_inclusive(|c| *c == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        l.sort();
        l
    };
    got != want && got.len() == want.len() && lines(got) == lines(want)
}

/// What happened in the run up to the failing step.
pub struct Evidence<'a> {
    pub role: Role,
    pub symptom: &'a Symptom,
    /// How the peer had ended the connection the step is about (for steps about no
    /// connection: the last connection it ended), if it had.
    pub peer_ended: Option<PeerEnd>,
    /// The peer reset some connection during the run.
    pub peer_reset_any: bool,
    pub stdin_closed: bool,
    /// Connections the peer had opened before the one the step is about (for steps about
    /// no connection: all it had opened).
    pub served_before: usize,
    /// Some byte or datagram of the program's had reached the peer.
    pub heard_from_program: bool,
    /// The program has exited with an error (a non-zero status or a signal).
    pub exit_failed: bool,
    /// The exception the program died of (the end of its last Python traceback), if any.
    pub last_exception: Option<&'a str>,
    /// What the program's server sends for each `b''` when it ignores the end of stream.
    pub eof_reply: Option<&'a [u8]>,
    /// The framing of the empty frames it sends then, for the framed programs.
    pub eof_frames: Option<crate::framing::Format>,
    /// The names of framed-header's header keys, to read those frames.
    pub header_keys: &'a sockref::frame::HeaderKeys,
    /// A stdin line was written after the peer had ended a connection.
    pub stdin_after_peer_end: bool,
}

/// The hint for a failure, if a known mistake matches.
pub fn diagnose(e: &Evidence) -> Option<Hint> {
    let server = e.role == Role::Server;
    let client = e.role == Role::Client;
    let died_of = |name: &str| e.last_exception == Some(name);
    let peer_fin = matches!(e.peer_ended, Some(PeerEnd::HalfClose | PeerEnd::Close));
    match e.symptom {
        // Only a program that failed: one that exited 0 having done nothing has no error to
        // read, and the steps' message says what it left undone.
        Symptom::ExitedBeforeConnection
            if e.served_before == 0 && !e.heard_from_program && e.exit_failed =>
        {
            Some(Hint::ExitedAtStart)
        }
        // The next client meets a dead server at its connect, or, when the connect reached
        // the backlog before the listener closed, at its first send.
        Symptom::ExitedBeforeConnection | Symptom::Died if server && e.peer_reset_any => {
            died_of("ConnectionResetError").then_some(Hint::ResetUncaught)
        }
        Symptom::ExitedBeforeConnection if server && e.served_before == 1 => {
            Some(Hint::OneClientOnly)
        }
        Symptom::NotListening => Some(Hint::NotListening),
        Symptom::UnexpectedBytes { got, want } => {
            if let Some(want) = want {
                let with_newline = |nl: &[u8]| got.strip_suffix(nl) == Some(want.as_slice());
                if with_newline(b"\n") || with_newline(b"\r\n") {
                    return Some(Hint::TrailingNewline);
                }
                if let (Ok(w), Ok(g)) = (std::str::from_utf8(want), std::str::from_utf8(got)) {
                    // Unicode upper-casing of what ASCII upper-casing gave: É for é.
                    if !w.is_ascii() && w != g && w.to_uppercase() == g {
                        return Some(Hint::UnicodeUpper);
                    }
                }
            }
            // Only the empty message's reply, over and over, is the loop going on after b''.
            let looped = e
                .eof_reply
                .is_some_and(|unit| !unit.is_empty() && made_of(got, unit))
                || e.eof_frames.is_some_and(|format| {
                    crate::framing::only_empty_frames(format, e.header_keys, got)
                });
            (peer_fin && server && looped).then_some(Hint::EofLoop)
        }
        // A server that still holds a connection the client ended: going round its loop on
        // b'' (it burns CPU, as the tutorial's remote shell does running the empty
        // command), or sitting elsewhere without having closed it.
        Symptom::StayedOpen { spinning } if peer_fin && server => Some(if *spinning {
            Hint::EofLoop
        } else {
            Hint::NotClosed
        }),
        Symptom::StayedOpen { spinning } | Symptom::StillRunning { spinning } if client => {
            match (e.stdin_closed, e.peer_ended.is_some()) {
                // The server closed first: a client that had stopped on b'' would be gone
                // already, whatever it later does with its closed input.
                // Only a client that read again after the end: one that was given another
                // line to send, or one that burns CPU going round its recv loop.
                (_, true) => {
                    (e.stdin_after_peer_end || *spinning).then_some(Hint::ServerCloseIgnored)
                }
                // Only a client that burns CPU is going round a loop on its closed input.
                (true, false) => spinning.then_some(Hint::StdinEofSpin),
                (false, false) => None,
            }
        }
        // A server that reads its stdin (udp-chat's replies) and goes round its loop once
        // that input has ended; no connection of the peer's is in play.
        Symptom::StillRunning { spinning: true }
            if server && e.stdin_closed && e.peer_ended.is_none() =>
        {
            Some(Hint::StdinEofSpin)
        }
        // The client had its next exchange after the end (a line to send), or the reset
        // reached it while it waited for a reply it had asked for.
        Symptom::WrongExit { errored: true }
            if client
                && e.peer_ended.is_some()
                && (e.stdin_after_peer_end || died_of("ConnectionResetError"))
                && !died_of("EOFError") =>
        {
            Some(Hint::CloseBetweenExchanges)
        }
        Symptom::WrongExit { .. }
            if server && peer_fin && e.eof_reply.is_some() && died_of("BrokenPipeError") =>
        {
            Some(Hint::EofLoop)
        }
        Symptom::WrongExit { .. }
            if server
                && matches!(e.peer_ended, Some(PeerEnd::Reset))
                && died_of("ConnectionResetError") =>
        {
            Some(Hint::ResetUncaught)
        }
        Symptom::WrongBody {
            got,
            want: Some(want),
            rest_follows,
        } if counts_characters(got, want, *rest_follows) => Some(Hint::LengthCountsCharacters),
        Symptom::PrintedOnlyAtExit => Some(Hint::BufferedOutput),
        Symptom::Declared(hint) => Some(*hint),
        _ => None,
    }
}

/// Whether `data` is `unit` repeated (the last repetition may be cut short).
fn made_of(data: &[u8], unit: &[u8]) -> bool {
    !data.is_empty() && data.chunks(unit.len()).all(|c| unit.starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_speaks_both_languages() {
        let cjk = |t: &str| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for hint in Hint::ALL {
            let (en, zh) = (hint.text_in(Lang::En), hint.text_in(Lang::Zh));
            assert!(en.len() > 20 && !cjk(en), "{}: English", hint.id());
            assert!(zh.chars().count() > 10 && cjk(zh), "{}: Chinese", hint.id());
        }
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
    }

    static TUTORIAL_KEYS: std::sync::LazyLock<sockref::frame::HeaderKeys> =
        std::sync::LazyLock::new(Default::default);

    fn evidence(symptom: &Symptom) -> Evidence<'_> {
        Evidence {
            role: Role::Server,
            symptom,
            peer_ended: Some(PeerEnd::HalfClose),
            peer_reset_any: false,
            stdin_closed: false,
            served_before: 1,
            heard_from_program: true,
            exit_failed: true,
            last_exception: None,
            eof_reply: Some(b"SB"),
            eof_frames: None,
            header_keys: &TUTORIAL_KEYS,
            stdin_after_peer_end: true,
        }
    }

    fn bytes(got: &[u8], want: Option<&[u8]>) -> Symptom {
        Symptom::UnexpectedBytes {
            got: got.to_vec(),
            want: want.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn ids_round_trip() {
        for &h in Hint::ALL {
            assert_eq!(serde_json::to_value(h).unwrap(), h.id());
            assert_eq!(Hint::from_id(h.id()), Some(h));
        }
        assert_eq!(Hint::ReplyToFixedAddress.id(), "reply-fixed-address");
        assert_eq!(Hint::from_id("reply-to-fixed-address"), None);
    }

    #[test]
    fn the_same_symptom_gets_the_hint_only_in_its_setting() {
        let sb = bytes(b"SBSBS", None);
        assert_eq!(diagnose(&evidence(&sb)), Some(Hint::EofLoop));
        let echoed = bytes(b"hello", None);
        assert_eq!(
            diagnose(&evidence(&echoed)),
            None,
            "bytes after the FIN that are not the empty message's reply are no eof loop"
        );
        let no_reply_known = Evidence {
            eof_reply: None,
            ..evidence(&sb)
        };
        assert_eq!(diagnose(&no_reply_known), None);
        let open_conn = Evidence {
            peer_ended: None,
            ..evidence(&sb)
        };
        assert_eq!(diagnose(&open_conn), None);
        let exited = Symptom::ExitedBeforeConnection;
        let first = Evidence {
            served_before: 0,
            heard_from_program: false,
            ..evidence(&exited)
        };
        assert_eq!(diagnose(&first), Some(Hint::ExitedAtStart));
        let after_an_exchange = Evidence {
            heard_from_program: true,
            ..first
        };
        assert_eq!(
            diagnose(&after_an_exchange),
            None,
            "a program that answered before it left did not exit at its start"
        );
        let clean_exit = Evidence {
            exit_failed: false,
            ..first
        };
        assert_eq!(diagnose(&clean_exit), None, "no error to read");
        assert_eq!(diagnose(&evidence(&exited)), Some(Hint::OneClientOnly));
        let wrong_exit = Symptom::WrongExit { errored: true };
        assert_eq!(diagnose(&evidence(&wrong_exit)), None);
        let broken_pipe = Evidence {
            last_exception: Some("BrokenPipeError"),
            ..evidence(&wrong_exit)
        };
        assert_eq!(diagnose(&broken_pipe), Some(Hint::EofLoop));
    }

    #[test]
    fn a_reset_that_killed_the_server_is_not_blamed_on_eof_or_on_one_client() {
        let wrong_exit = Symptom::WrongExit { errored: true };
        let reset = Evidence {
            peer_ended: Some(PeerEnd::Reset),
            last_exception: Some("ConnectionResetError"),
            ..evidence(&wrong_exit)
        };
        assert_eq!(diagnose(&reset), Some(Hint::ResetUncaught));
        let exited = Symptom::ExitedBeforeConnection;
        let after_three = Evidence {
            peer_ended: None,
            peer_reset_any: true,
            served_before: 3,
            last_exception: Some("ConnectionResetError"),
            ..evidence(&exited)
        };
        assert_eq!(diagnose(&after_three), Some(Hint::ResetUncaught));
        // The next client connected into the backlog just before the server died: its
        // send is what fails.
        let send_failed = Evidence {
            symptom: &Symptom::Died,
            ..after_three
        };
        assert_eq!(diagnose(&send_failed), Some(Hint::ResetUncaught));
        let other_death = Evidence {
            last_exception: Some("OSError"),
            ..after_three
        };
        assert_eq!(diagnose(&other_death), None);
    }

    #[test]
    fn wrong_bytes_are_named_by_what_they_are() {
        let newline = bytes(b"hello\n", Some(b"hello"));
        let e = Evidence {
            peer_ended: None,
            ..evidence(&newline)
        };
        assert_eq!(diagnose(&e), Some(Hint::TrailingNewline));
        let upper = bytes("HÉLLO".as_bytes(), Some("HéLLO".as_bytes()));
        assert_eq!(diagnose(&evidence(&upper)), Some(Hint::UnicodeUpper));
        let other = bytes(b"HELLO!", Some(b"HELLO"));
        let e = Evidence {
            peer_ended: None,
            ..evidence(&other)
        };
        assert_eq!(diagnose(&e), None);
    }

    #[test]
    fn a_client_still_running_is_blamed_on_what_ended() {
        let running = Symptom::StillRunning { spinning: true };
        let base = Evidence {
            role: Role::Client,
            peer_ended: None,
            stdin_closed: true,
            ..evidence(&running)
        };
        assert_eq!(diagnose(&base), Some(Hint::StdinEofSpin));
        let server_closed = Evidence {
            peer_ended: Some(PeerEnd::Close),
            stdin_closed: false,
            ..base
        };
        assert_eq!(diagnose(&server_closed), Some(Hint::ServerCloseIgnored));
        let both = Evidence {
            stdin_closed: true,
            ..server_closed
        };
        assert_eq!(
            diagnose(&both),
            Some(Hint::ServerCloseIgnored),
            "the server closed first: a client that stopped on b'' would be gone"
        );
        let blocked_after_end = Symptom::StillRunning { spinning: false };
        let never_read_again = Evidence {
            symptom: &blocked_after_end,
            stdin_after_peer_end: false,
            ..server_closed
        };
        assert_eq!(
            diagnose(&never_read_again),
            None,
            "a client that never read again cannot have ignored the end"
        );
        let blocked = Symptom::StillRunning { spinning: false };
        let waiting = Evidence {
            symptom: &blocked,
            ..base
        };
        assert_eq!(
            diagnose(&waiting),
            None,
            "a client blocked elsewhere is not spinning on its input"
        );
        let open = Symptom::StayedOpen { spinning: true };
        let server_loops = Evidence {
            role: Role::Server,
            peer_ended: Some(PeerEnd::HalfClose),
            stdin_closed: false,
            ..evidence(&open)
        };
        assert_eq!(diagnose(&server_loops), Some(Hint::EofLoop));
        let idle = Symptom::StayedOpen { spinning: false };
        let server_waits = Evidence {
            symptom: &idle,
            ..server_loops
        };
        assert_eq!(diagnose(&server_waits), Some(Hint::NotClosed));
        let spinning = Symptom::StillRunning { spinning: true };
        let chat_server = Evidence {
            role: Role::Server,
            symptom: &spinning,
            peer_ended: None,
            stdin_closed: true,
            ..evidence(&spinning)
        };
        assert_eq!(diagnose(&chat_server), Some(Hint::StdinEofSpin));
        let chat_server_waits = Evidence {
            symptom: &blocked,
            ..chat_server
        };
        assert_eq!(diagnose(&chat_server_waits), None);
    }

    #[test]
    fn a_declared_hint_fits_only_the_bytes_that_show_its_mistake() {
        let want = b"out 1\nout 2\nerr 1\nerr 2\n";
        let merged = bytes(b"err 1\nout 1\nerr 2\nout 2\n", Some(want));
        assert!(Hint::StderrOrder.fits(&merged));
        assert!(!Hint::StderrMissing.fits(&merged));
        let stdout_only = bytes(b"out 1\nout 2\n", Some(want));
        assert!(Hint::StderrMissing.fits(&stdout_only));
        assert!(!Hint::StderrOrder.fits(&stdout_only));
        assert!(!Hint::TotalSizeStdoutOnly.fits(&stdout_only));
        let short_frame = |rest_follows| Symptom::WrongBody {
            got: b"out 1\nout 2\n".to_vec(),
            want: Some(want.to_vec()),
            rest_follows,
        };
        assert!(Hint::TotalSizeStdoutOnly.fits(&short_frame(true)));
        assert!(!Hint::StderrMissing.fits(&short_frame(true)));
        assert!(!Hint::TotalSizeStdoutOnly.fits(&short_frame(false)));
        assert!(Hint::StderrMissing.fits(&short_frame(false)));
        let other = bytes(b"something else entirely", Some(want));
        for hint in [
            Hint::StderrOrder,
            Hint::StderrMissing,
            Hint::TotalSizeStdoutOnly,
        ] {
            assert!(!hint.fits(&other), "{hint:?}");
        }
        assert!(Hint::StderrMissing.fits(&Symptom::Short { got: 3 }));
        assert!(
            Hint::EmptyLineSent.fits(&bytes(b"   ", None)),
            "a hint with no evidence of its own fits its way of failing"
        );
        assert!(
            !reordered_lines(want, want),
            "the same bytes are no reordering"
        );
    }

    #[test]
    fn a_length_that_counts_characters_is_named_only_when_the_rest_followed() {
        let want = "你好, wörld\n".as_bytes();
        let chars = "你好, wörld\n".chars().count();
        assert!(counts_characters(&want[..chars], want, true));
        assert!(!counts_characters(&want[..chars], want, false));
        assert!(!counts_characters(&want[..chars - 1], want, true));
        let body = Symptom::WrongBody {
            got: want[..chars].to_vec(),
            want: Some(want.to_vec()),
            rest_follows: true,
        };
        assert_eq!(
            diagnose(&evidence(&body)),
            Some(Hint::LengthCountsCharacters)
        );
    }

    #[test]
    fn a_client_that_errs_when_the_server_left_between_exchanges_is_told_so() {
        let exit = Symptom::WrongExit { errored: true };
        let reset = Evidence {
            role: Role::Client,
            peer_ended: Some(PeerEnd::Reset),
            last_exception: Some("ConnectionResetError"),
            stdin_after_peer_end: true,
            ..evidence(&exit)
        };
        assert_eq!(diagnose(&reset), Some(Hint::CloseBetweenExchanges));
        let fin = Evidence {
            peer_ended: Some(PeerEnd::HalfClose),
            last_exception: Some("error"),
            ..reset
        };
        assert_eq!(diagnose(&fin), Some(Hint::CloseBetweenExchanges));
        let no_exchange_after = Evidence {
            stdin_after_peer_end: false,
            ..fin
        };
        assert_eq!(diagnose(&no_exchange_after), None);
        let eof = Evidence {
            last_exception: Some("EOFError"),
            ..fin
        };
        assert_eq!(diagnose(&eof), None, "the end of its input, not the server");
        let succeeded_wrongly = Symptom::WrongExit { errored: false };
        let mid_frame = Evidence {
            symptom: &succeeded_wrongly,
            ..fin
        };
        assert_eq!(diagnose(&mid_frame), None);
    }
}
