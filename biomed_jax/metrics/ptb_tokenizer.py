"""Penn Treebank tokenisation as coco-caption applies it, in pure Python.

coco-caption (and pycocoevalcap, which BiomedGPT/OFA caption scores go through) runs every
caption through Stanford CoreNLP 3.4.1's `PTBTokenizer -preserveLines -lowerCase` (a Java
program) and then drops the tokens in `PUNCTUATIONS`. BLEU, METEOR and CIDEr are computed on
the result. This module reproduces that pipeline without Java so that scores do not depend on
a JVM being installed.

It is a longest-match lexer over the token classes of CoreNLP's PTBLexer (words, numbers,
fractions, hyphenated "things", contractions, abbreviations, acronyms, URLs, quotes,
brackets, dashes, ellipses, symbols), with the 3.4.1 normalisations: brackets become
`-lrb-`/`-rrb-`/`-lsb-`/`-rsb-`/`-lcb-`/`-rcb-` (and, being lower-cased, are *not* removed by
coco's punctuation list), quotes become `` ` `` / `` `` `` / `'` / `''`, long dashes `--`, `…`
`...`, `½` `1/2`, `£`/`€`/`¢` `#`/`$`/`cents`. No British-to-American respelling (3.4.1's
command line does not do it).

Known deviation: coco tokenises all captions as one newline-joined stream, so whether an
abbreviation ending a caption keeps its period ("ca." vs "ca") can depend on the first
character of the *next* caption; here each text is tokenised alone, as if followed by a newline.
Asian emoticons and a few other CoreNLP special tokens are not modelled. Checked against the
Java tokenizer on ~14,000 generated lines of report/caption fragments (units, numbers,
abbreviations, brackets, quotes, URLs, Greek letters, glued punctuation): all agree except
that cross-caption case and a handful of emoticon/file-name oddities in random-character
lines. tests/metrics/test_ptb_tokenizer.py re-runs the jar whenever `java` is available.
"""

import functools

import regex as re

# coco-caption's pycocoevalcap/tokenizer/ptbtokenizer.py: tokens removed after tokenising.
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?",
                          "!", ",", ":", "-", "--", "...", ";"])

# ---------------------------------------------------------------------------------------------
# Character classes (CoreNLP PTBLexer macros). JFlex's %caseless affects literal strings only,
# never character classes, hence the scoped (?i:...) groups below.
# ---------------------------------------------------------------------------------------------
_L = r"[\p{L}\p{M}]"  # a letter (JFlex [:letter:] plus combining marks)
_AN = r"[\p{L}\p{M}\p{Nd}]"  # a letter or digit
_D = r"\p{Nd}"
_APOS = r"(?:['\u0092\u2019]|&apos;)"
_APOSX = r"(?:['\u0092\u2019\u0091\u2018\u201B`]|&apos;)"  # APOSETCETERA
_SPACE = r"[ \t\u00A0\u2000-\u200A\u3000]"
_NL = r"(?:\r|\r?\n|[\u2028\u2029\u000B\u000C\u0085])"
_SPACENL = rf"(?:{_SPACE}|{_NL})"
_SGML_NAME = r"[A-Za-z][A-Za-z0-9_:.\-]*"
_SGML = (rf"<(?:[!?][A-Za-z\-][^>\r\n]*"
         rf"|{_SGML_NAME}(?:[ ]+(?:{_SGML_NAME}|{_SGML_NAME}[ ]*=[ ]*"
         rf"(?:'[^'\r\n]*'|\"[^\"\r\n]*\"|{_SGML_NAME})))*[ ]*/?"
         rf"|/{_SGML_NAME})[ ]*>")
_SENTEND = rf"{_SPACENL}(?:{_SPACENL}|[A-Z]|{_SGML})"
_REDAUX = rf"{_APOS}(?:[msdMSD]|(?i:re|ve|ll))"
_WORD = rf"{_L}{_AN}*(?:[.!?]{_L}{_AN}*)*"
_NUM = rf"(?:{_D}+(?:[.:,\u00AD\u066B\u066C]{_D}+)*|{_D}*(?:[.:,\u00AD\u066B\u066C]{_D}+)+)"
_NUMBER = rf"[\-+]?{_NUM}"
_HYPHEN = r"[-_\u058A\u2010\u2011]"
_THING = (rf"(?:[dDoOlL]{_APOSX}{_AN})?{_AN}+"
          rf"(?:{_HYPHEN}(?:[dDoOlL]{_APOSX}{_AN})?{_AN}+)*")
_ACRO = (r"(?:[A-Za-z](?:\.[A-Za-z])+|(?i:(?:canada|sino|korean|eu|japan|non)-u\.s"
         r"|u\.s\.-(?:u\.k|u\.s\.s\.r)))")
_HTHING = rf"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{_ACRO}\.))+"
_INSENTP = r"[,;:]"
_FILENAME = (rf"{_AN}+(?:[-._/]{_AN}+)*\.(?i:bat|bmp|bz2|c|class|cgi|cpp|dll|doc|docx|exe|gif"
             r"|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x"
             r"|xml|zip|3gp|wm[va]|avi|flv|mp[34g])")
_ABBREV1 = (r"(?i:(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|tues|wed|thu"
            r"|thurs|fri|ala|ariz|ark|calif|colo|conn|ct|dak|del|fla|ga|ill|ind|kans?|ky|la|mass"
            r"|md|mich|minn|miss|mo|mont|neb|nev|okla|ore|pa|penn|tenn|tex|va|vt|wash|wisc?"
            r"|wyo|inc|cos?|corp|pp?t[ye]s?|ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys|tel|est"
            r"|ext|sq|ft|jr|sr|bros|(?:ed|ph)\.d|blvd|rd|esq|etc|al|seq|bldg)\.)")
_ABBREV4 = (r"(?:[A-Za-z](?:\.[A-Za-z])*|(?i:mr|mrs|ms|miss|drs?|profs?|sens?|reps?|attys?|lt"
            r"|col|gen|messrs|govs?|adm|rev|maj|sgt|cpl|pvt|mt|capt|ste?|ave|pres|lieut|hon"
            r"|brig|co?mdr|pfc|spc|supts?|det|vs|alex|wm|jos|cie|a\.k\.a|cf|treas|invt|elec"
            r"|natl|m[ft]g|dept))")
# Abbreviations kept whole only before a number ("fig. 2", "no. 5").
_ABBREV3 = r"(?i:(?:ca|figs?|prop|nos?|art|pp|op)\.)"
_ACRONYM_NEXT = (
    "About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|"
    "Last|Many|More|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Then|"
    "There|These|They|This|We|When|While|What|Yet|You")
_APOWORD = (
    rf"{_APOS}n{_APOS}?|[lLdDjJ]{_APOS}|(?i:dunkin|somethin|ol){_APOS}|{_APOS}(?i:em)"
    rf"|[A-HJ-XZn]{_APOSX}{_L}{{2}}{_L}*|{_APOS}[2-9]0(?i:s)|{_APOS}(?i:till?)"
    rf"|{_L}+[aeiouyAEIOUY]{_APOSX}[aeiouA-Z]{_L}*|{_APOS}(?i:cause)"
    r"|(?i:cont'd\.?|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)")
_QUOTES = (r"(?:['\u0092\u2019]|&apos;|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092"
           r"\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2})")
_MISC = (r"[\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00BA\u00D7\u00F7\u0387\u2020-\u2023"
         r"\u2032-\u2038\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u22FF"
         r"\u2300-\u23FF\u25A0-\u25FF\u2600-\u27BF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20"
         r"\uFF3B-\uFF40\uFF5B-\uFF65]")
_FRAC2 = {"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3", "\u2154": "2/3"}
_CURRENCY = {"\u00A2": "cents", "\u00A3": "#", "\u0080": "$", "\u00A4": "$", "\u20A0": "$",
             "\u20AC": "$"}
_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-",
             "}": "-RCB-"}


def _latex_quote(tok: str, probably_left: bool) -> str:
  if probably_left:
    tok = re.sub(r"&apos;|'", "`", tok)
    tok = re.sub(r"\"|&quot;", "``", tok)
  else:
    tok = re.sub(r"&apos;|'", "'", tok)
    tok = re.sub(r"\"|&quot;", "''", tok)
  tok = re.sub("[\u0091\u2018\u201B\u2039]", "`", tok)
  tok = re.sub("[\u0092\u2019\u203A]", "'", tok)
  tok = re.sub("[\u0093\u201C\u00AB]", "``", tok)
  return re.sub("[\u0094\u201D\u00BB]", "''", tok)


def _dashes(tok: str) -> str:
  return "--" if 3 <= len(tok) <= 4 else tok


# (pattern, emit): the whole match decides the longest match (trailing context included, as in
# JFlex); group "tok", when present, is what is emitted and consumed. `emit` maps the token
# text to a list of output tokens (an empty list deletes it). Earlier rules win ties.
def _KEEP(tok: str) -> list[str]:  # pylint: disable=invalid-name
  return [tok]


_RULES = [
    (r"(?P<tok>(?i:can))(?i:not)", _KEEP),
    (rf"(?P<tok>{_APOS}(?i:t))(?i:is|was)", _KEEP),  # 'tis, 'twas -> 't is, 't was
    (_SGML, lambda t: [t.replace(" ", "\u00A0")]),
    (r"&(?:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]", lambda t: ["--"]),
    (r"&amp;", lambda t: ["&"]),
    (r"&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);", _KEEP),
    (rf"(?P<tok>{_WORD}){_REDAUX}", _KEEP),
    (rf"(?P<tok>{_L}*[A-MO-Za-mo-z])(?i:n){_APOSX}(?i:t)", _KEEP),  # do|n't, ca|n't
    (_WORD, _KEEP),
    (_APOWORD, _KEEP),
    (rf"(?P<tok>[yY]{_APOS}){_L}", _KEEP),
    (r"(?i:https?)://[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]", _KEEP),
    # JFlex reads ",-_" in LIKELYURL's class as the range U+002C-U+005F, hence \x2C-\x5F.
    (r"(?:(?:www\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})"
     r"|(?:(?:[^ \t\n\f\r\"`'<>|.!?(){}\x2C-\x5F$]+\.)+(?i:com|net|org|edu)))"
     r"(?:/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?", _KEEP),
    (r"<?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0{}]*@(?:[^ \t\n\f\r\"<>|(){}.\u00A0]+\.)*"
     r"[^ \t\n\f\r\"<>|(){}.\u00A0]+>?", _KEEP),
    (r"[@\uFF20][a-zA-Z_][a-zA-Z_0-9]*", _KEEP),
    (rf"[#\uFF03]{_L}+", _KEEP),
    (r"(?P<tok>[<>]?[:;=][\-o*']?[()DPdpO\\{@|\[\]])[^\p{L}\p{Nd}]",
     lambda t: [t.replace("(", "-LRB-").replace(")", "-RRB-")]),  # emoticons
    (r"<<|>>", _KEEP),
    (rf"(?P<tok>{_REDAUX})[^A-Za-z]", lambda t: [_latex_quote(t, False)]),
    (rf"(?i:n){_APOSX}(?i:t)", lambda t: [_latex_quote(t, False)]),
    (rf"{_D}{{1,2}}[\-/]{_D}{{1,2}}[\-/]{_D}{{2,4}}", _KEEP),
    (_NUMBER, _KEEP),
    (r"[\u207A\u207B\u208A\u208B]?(?:[\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)",
     _KEEP),
    (rf"(?:{_D}{{1,4}}[- \u00A0])?{_D}{{1,4}}(?:\\?/|\u2044){_D}{{1,4}}",
     lambda t: [t.replace(" ", "\u00A0")]),
    ("[" + "".join(_FRAC2) + "]", lambda t: [_FRAC2[t]]),
    (r"-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|(?i:c\.d\.s|pro-|anti-|s(?:&|&amp;)p-500|s(?:&|&amp;)ls"
     rf"|cap{_APOS}n|c{_APOS}est)", lambda t: [t.replace("&amp;", "&")]),
    (r"(?i:c\+\+|[cf]#)", _KEEP),
    (r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}", _KEEP),
    (r"[A-Z]*\$|#", _KEEP),
    (r"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]",
     lambda t: [_CURRENCY.get(t, t)]),
    # An acronym before a typical sentence start ends the sentence: "U.S. The" -> "U.S." "."
    # (a one-letter one gives the letter and "."), the period being read twice.
    (rf"(?P<tok>{_ACRO}\.|[A-Za-z]\.){_SPACE}+(?:{_ACRONYM_NEXT})(?:{_SPACENL}|[?!])",
     lambda t: [t[:-1], "."] if len(t) == 2 else [t, "."]),
    (rf"(?P<tok>{_ABBREV3}){_SPACENL}?{_D}", _KEEP),
    (rf"(?P<tok>{_ABBREV1}){_SENTEND}", lambda t: [t, "."]),
    (rf"(?P<tok>{_ABBREV1})[\s\S][\s\S]", _KEEP),  # beats a WORD run-on ("Inc.r")
    (_ABBREV1, _KEEP),
    (rf"{_ABBREV4}\.", _KEEP),
    (rf"(?P<tok>{_ABBREV4}){_SPACE}", _KEEP),
    (rf"(?P<tok>{_ACRO}){_SPACENL}", _KEEP),
    (rf"(?P<tok>{_APOS}[0-9][0-9]){_SPACENL}", _KEEP),
    (rf"(?P<tok>{_FILENAME})(?:{_SPACENL}|[.?!,\"'<])", _KEEP),
    (rf"(?P<tok>{_WORD}\.){_INSENTP}", _KEEP),
    (r"(?:\([0-9]{3}\)[ \u00A0]?|[0-9]{3}[\- \u00A0.])[0-9]{3}[\- \u00A0.][0-9]{4}",
     lambda t: [t.replace(" ", "\u00A0").replace("(", "-LRB-").replace(")", "-RRB-")]),
    (r"(?P<tok>\"|&quot;)[A-Za-z0-9$]", lambda t: [_latex_quote(t, True)]),
    (r"\"|&quot;", lambda t: [_latex_quote(t, False)]),
    (r"[+%&~^|\\\u2030\u2031]", _KEEP),
    (r"<|&lt;", lambda t: ["<"]),
    (r">|&gt;", lambda t: [">"]),
    (r"[(){}\[\]]", lambda t: [_BRACKETS[t]]),
    (r"-+", lambda t: [_dashes(t)]),
    (r"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]", lambda t: ["..."]),
    (r"@+|#+|_+", _KEEP),
    (r"\*+|(?:\\\*){1,3}", _KEEP),
    (_INSENTP, _KEEP),
    (r"[?!]+", _KEEP),
    (r"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA]", _KEEP),
    (r"=", _KEEP),
    (r"/", _KEEP),
    (rf"(?P<tok>{_HTHING}\.){_INSENTP}", _KEEP),
    (_HTHING, _KEEP),
    (rf"(?P<tok>{_THING}\.){_INSENTP}", _KEEP),
    (_THING, _KEEP),
    (r"(?P<tok>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\.)[,;:]", lambda t: [t.replace("&amp;", "&")]),
    (r"[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+", lambda t: [t.replace("&amp;", "&")]),
    (r"(?P<tok>')[A-Za-z][^ \t\n\r\u00A0]", lambda t: [_latex_quote(t, True)]),
    (_REDAUX, lambda t: [_latex_quote(t, False)]),
    (_QUOTES, lambda t: [_latex_quote(t, False)]),
    (_MISC, _KEEP),
]
_COMPILED = [(re.compile(p), emit) for p, emit in _RULES]
_SKIP = re.compile(rf"(?:{_SPACE}|{_NL}|[\u0000\u200B\u200E\u200F\uFEFF])+")
# Fast path: a whitespace-delimited run of letters/digits starting with a letter is one WORD
# token (rules that match longer from there emit the same token), except "cannot".
_PLAIN = re.compile(rf"{_L}{_AN}*(?=\s)")
_ANY_TOKEN = re.compile(r"\S")


def _lex(text: str) -> list[str]:
  tokens = []
  pos, end = 0, len(text)
  while pos < end:
    skip = _SKIP.match(text, pos)
    if skip:
      pos = skip.end()
      continue
    at_chunk_start = pos == 0 or text[pos - 1].isspace()
    plain = _PLAIN.match(text, pos) if at_chunk_start else None
    if plain and plain.group().lower() != "cannot":
      tokens.append(plain.group())
      pos = plain.end()
      continue
    best_len, best = 0, None
    for rx, emit in _COMPILED:
      m = rx.match(text, pos)
      if m and m.end() - pos > best_len:
        best_len, best = m.end() - pos, (m, emit)
    if best is None:  # Untokenizable character: CoreNLP deletes it.
      pos += 1
      continue
    m, emit = best
    tok = m.group("tok") if "tok" in m.re.groupindex else m.group()
    tokens.extend(emit(tok))
    pos += len(tok)
  return tokens


@functools.lru_cache(maxsize=65536)
def ptb_tokenize(text: str) -> str:
  """coco-caption's tokenisation of one caption: PTB tokens, lower-cased, punctuation removed.

  Returns the tokens joined by single spaces (the form pycocoevalcap's scorers take).
  """
  if not _ANY_TOKEN.search(text):
    return ""
  # coco joins captions with newlines, so every caption is followed by one.
  tokens = _lex(text.replace("\n", " ") + "\n")
  # -lowerCase applies before coco's filter, so "-LRB-" (now "-lrb-") survives it.
  return " ".join(t for t in (t.lower() for t in tokens) if t not in PUNCTUATIONS)
