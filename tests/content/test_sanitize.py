"""Article HTML through the allow-list sanitiser: attacks removed, editorial markup kept."""

import html
import re
import unicodedata
from html.parser import HTMLParser

import pytest

from services.content.sanitize import html_to_text, sanitize_html

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<script/xss src=//evil.example/x.js></script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>alert(1);//<</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    "<IMG SRC=x OnErRoR=alert(1)>",
    '<img src="x" onerror="&#97;lert(1)">',
    "<img/src=x/onerror=alert(1)>",
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    "<p onclick=alert(1)>x</p>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="javascript:alert(1)">',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<video poster="javascript:alert(1)" src="javascript:alert(2)"></video>',
    "<audio src=x onerror=alert(1)></audio>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)">x</math>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<input onfocus=alert(1) autofocus>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    "<details open ontoggle=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<td background="javascript:alert(1)">x</td>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<textarea><script>alert(1)</script></textarea>",
    "<title><script>alert(1)</script></title>",
    "<template><script>alert(1)</script></template>",
    '<a href="#" target="_blank" rel="opener">x</a>',
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    '"><script>alert(1)</script>',
    "<x onclick=alert(1)>click</x>",
    '<a href="javascript:alert(1)" onmouseover="alert(2)">x</a>',
    "<source src=x onerror=alert(1)>",
    '<span style="position:fixed;top:0;left:0">overlay</span>',
    '<h2 id="x" class="y" onauxclick=alert(1)>x</h2>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<img src="  javascript:alert(1)">',
    "<svg/onload=alert(1)>",
    '<img src="x" onerror  =  "alert(1)">',
    "<iframe src=data:text/html,<script>alert(1)</script>></iframe>",
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    "<isindex action=javascript:alert(1) type=image>",
    '<a href="javascript:void(0)" target="_top">x</a>',
]

ALLOWED_TAGS = {
    *("p", "br", "hr", "span", "div", "code", "pre", "blockquote"),
    *("strong", "b", "em", "i", "u", "s", "sub", "sup"),
    *("ul", "ol", "li", "h2", "h3", "h4", "h5", "h6"),
    *("a", "img", "figure", "figcaption", "audio", "video", "source"),
    *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
}
SAFE_SCHEMES = {"http", "https", "mailto", "tel"}
SCHEME = re.compile(r"^\s*([a-z][a-z0-9+.-]*):", re.IGNORECASE)


class Tags(HTMLParser):
    """Collects every start tag with its attributes (values already unescaped)."""

    def __init__(self, markup):
        super().__init__()
        self.tags = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_safe(output):
    assert "<script" not in output.lower()
    unescaped = html.unescape(output).lower()
    for scheme in ("javascript:", "vbscript:", "data:"):
        assert scheme not in unescaped
    for tag, attrs in Tags(output).tags:
        assert tag in ALLOWED_TAGS
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "srcdoc", "formaction", "xlink:href"}
            # Browsers ignore ASCII whitespace and controls inside a URL's scheme.
            url = re.sub(r"[\x00-\x20]", "", value or "")
            if name in {"href", "src", "poster"} and (match := SCHEME.match(url)):
                assert match.group(1).lower() in SAFE_SCHEMES, value
        if tag == "a":
            assert attrs.get("rel") == "noopener noreferrer"


class TestSanitizeAttacks:
    def test_there_are_enough_payloads(self):
        assert len(set(XSS_PAYLOADS)) >= 40

    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    def test_payload_is_neutralised(self, payload):
        assert_safe(sanitize_html(payload))

    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    def test_payload_inside_real_content(self, payload):
        assert_safe(sanitize_html(f"<p>Tin tức <strong>{payload}</strong> BHXH</p>"))

    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    def test_sanitising_twice_changes_nothing(self, payload):
        once = sanitize_html(payload)
        assert sanitize_html(once) == once

    def test_escaped_script_text_stays_escaped(self):
        body = "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        assert sanitize_html(body) == body

    def test_comments_are_removed(self):
        assert sanitize_html("<p>a<!-- ghi chú nội bộ -->b</p>") == "<p>ab</p>"

    def test_unknown_tags_keep_their_text(self):
        assert sanitize_html("<h1>Tiêu đề</h1><font color=red>chữ</font>") == "Tiêu đềchữ"


class TestSanitizeKeeps:
    def test_table(self):
        body = (
            "<table><caption>Mức đóng BHXH</caption>"
            '<thead><tr><th colspan="2">Đối tượng</th></tr></thead>'
            '<tbody><tr><td rowspan="2">Người lao động</td><td>8%</td></tr></tbody>'
            "<tfoot><tr><td>Tổng</td></tr></tfoot></table>"
        )
        assert sanitize_html(body) == body

    def test_image_and_figure(self):
        body = (
            '<figure><img src="https://media.baohiemxahoi.gov.vn/a.jpg" alt="Lễ ra quân"'
            ' title="Ảnh" width="800" height="600">'
            "<figcaption>Lễ ra quân tháng vận động</figcaption></figure>"
        )
        assert sanitize_html(body) == body

    def test_relative_image(self):
        assert sanitize_html('<img src="/media/a.jpg" alt="">') == '<img src="/media/a.jpg" alt="">'

    @pytest.mark.parametrize(
        "href",
        [
            "https://baohiemxahoi.gov.vn/",
            "http://x.vn/a?b=1&amp;c=2",
            "/tin-tuc/a",
            "#muc-1",
            "mailto:bandoc@bhxh.gov.vn",
            "tel:+842439361234",
        ],
    )
    def test_link_gets_rel(self, href):
        out = sanitize_html(f'<a href="{href}" title="Xem">xem</a>')
        assert out == f'<a href="{href}" title="Xem" rel="noopener noreferrer">xem</a>'

    def test_link_rel_is_forced(self):
        out = sanitize_html('<a href="https://x.vn" target="_blank" rel="opener">x</a>')
        assert out == ('<a href="https://x.vn" target="_blank" rel="noopener noreferrer">x</a>')

    def test_odd_target_is_dropped(self):
        out = sanitize_html('<a href="https://x.vn" target="_top">x</a>')
        assert out == '<a href="https://x.vn" rel="noopener noreferrer">x</a>'

    @pytest.mark.parametrize("level", [2, 3, 4, 5, 6])
    def test_headings(self, level):
        body = f"<h{level}>Quyền lợi người tham gia</h{level}>"
        assert sanitize_html(body) == body

    def test_text_formatting_and_lists(self):
        body = (
            "<p><strong>Đậm</strong> <b>b</b> <em>nghiêng</em> <i>i</i> <u>gạch</u> <s>xóa</s>"
            " H<sub>2</sub>O m<sup>2</sup><br></p><blockquote>Trích dẫn</blockquote>"
            "<ul><li>một</li></ul><ol><li>hai</li></ol><hr><div><span>x</span></div>"
            "<pre><code>mã</code></pre>"
        )
        assert sanitize_html(body) == body

    def test_media(self):
        body = (
            '<video controls="" poster="/p.jpg"><source src="/v.mp4" type="video/mp4">'
            '</video><audio controls="" src="/a.mp3"></audio>'
        )
        assert sanitize_html(body) == body

    def test_vietnamese_text_comes_out_nfc(self):
        nfd = unicodedata.normalize("NFD", "<p>Bảo hiểm xã hội Việt Nam: hoà nhập</p>")
        out = sanitize_html(nfd)
        assert out == "<p>Bảo hiểm xã hội Việt Nam: hoà nhập</p>"
        assert unicodedata.is_normalized("NFC", out)

    def test_disallowed_attributes_are_dropped(self):
        out = sanitize_html('<p id="a" class="b" style="color:red" data-x="1">x</p>')
        assert out == "<p>x</p>"


class TestHtmlToText:
    def test_strips_tags_and_decodes_entities(self):
        assert html_to_text("<p>Lương <b>hưu</b> &amp; trợ cấp &lt;2025&gt;</p>") == (
            "Lương hưu & trợ cấp <2025>"
        )

    def test_blocks_are_separated_by_spaces(self):
        text = html_to_text(
            "<h2>Tiêu đề</h2><p>Đoạn một</p><p>Đoạn<br>hai</p><ul><li>a</li><li>b</li></ul>"
        )
        assert text == "Tiêu đề Đoạn một Đoạn hai a b"

    def test_inline_tags_do_not_split_words(self):
        assert html_to_text("<p>B<strong>ả</strong>o hiểm</p>") == "Bảo hiểm"

    def test_script_and_style_content_is_dropped(self):
        assert html_to_text("<script>alert(1)</script><style>p{}</style><p>Tin</p>") == "Tin"

    def test_whitespace_is_collapsed(self):
        assert html_to_text("  <p>a \n\n\t b</p>&nbsp; <p> c </p> ") == "a b c"

    def test_nfd_comes_out_nfc(self):
        text = html_to_text(unicodedata.normalize("NFD", "<p>Đóng BHXH tự nguyện</p>"))
        assert text == "Đóng BHXH tự nguyện"
        assert unicodedata.is_normalized("NFC", text)

    @pytest.mark.parametrize("body", ["", "   ", "<p></p>", '<img src="/a.jpg">'])
    def test_empty(self, body):
        assert html_to_text(body) == ""
