# ruff: noqa: RUF001 -- Cyrillic cue words hold letters that look Latin; they are meant
"""Cue words per kind of work, in every language the classifier reads.

Written from general knowledge of each language and each kind of work, not from the labelled
prompts: they let a small model generalise to vocabulary its training prompts never used. Three
forms, matched differently because the scripts differ:

* whole words (Latin and Cyrillic scripts, lower-cased after NFKC);
* word prefixes, written with a trailing `*` (inflected languages: `функци*`, `programm*`);
* substrings for Chinese, Japanese and Korean, where words are not separated by spaces.

Also the function words that vote for a language among the Latin-script ones, and question words.
"""

from __future__ import annotations

_WORDS: dict[str, str] = {
    "code": """
        python javascript typescript java kotlin swift rust golang go c++ c# csharp php ruby
        perl scala haskell elixir erlang clojure lua bash shell powershell sql postgres
        postgresql
        mysql sqlite mongodb redis html css react vue angular svelte django flask
        fastapi express
        node nodejs npm pip pytest jest junit git github gitlab docker dockerfile kubernetes k8s
        terraform ansible aws lambda api apis rest graphql json yaml xml csv regex
        regexp function
        functions method methods class classes struct interface enum variable variables
        loop loops
        array arrays list dict dictionary hashmap tuple string strings int integer
        boolean pointer
        pointers null none nil exception exceptions error traceback stacktrace bug bugs debug
        debugging compile compiler compiles runtime syntax refactor refactoring implement
        implementation algorithm recursion recursive iterate iterator generator decorator async
        await thread threads mutex deadlock concurrency segfault memory leak endpoint query
        queries schema migration index database repository repo commit branch merge rebase
        deploy deployment ci pipeline unittest tests testing mock script scripts code coding
        program programming library framework package module import lint linter
        webpack vite cli terminal command linux unix vim emacs ide vscode stdout stdin binary
        hash heap stack queue tree graph bfs dfs sort sorting o(n) typeerror keyerror valueerror
        indentationerror nullpointerexception undefined pandas numpy spring laravel goroutine
        goroutines kubectl nginx cron crontab flexbox div jsx npm yarn mock mocker
        código codigo función funcion funciones programa programar programación depurar
        compilar variable bucle consulta servidor repositorio desplegar librería biblioteca
        fonction fonctions programme programmer programmation déboguer compiler boucle requête
        serveur dépôt déployer bibliothèque funktion funktionen programm programmieren
        fehlermeldung debuggen kompilieren schleife abfrage skript bibliothek função funções
        variável laço classe consulta repositório codice funzione funzioni programma
        programmare programmazione compilare variabile ciclo libreria
        код коде кода функция функцию функции программа программу коммит массив цикл
        скрипт сервер запрос запроса
        scraper crawler regulären regulärer ausdruck régulière complexité complexity
        сложность выражение regular regolare espressione stash rodapé composition
        inheritance === == !== goroutine coroutine coroutines корутины
    """,
    "creative": """
        poem poems poetry poetic haiku limerick sonnet villanelle ode elegy ballad verse verses
        rhyme rhyming rhymes lyrics song songs chorus jingle lullaby story stories tale tales
        fable fairy myth legend fiction fanfiction novel chapter scene scenes monologue dialogue
        screenplay sketch character characters villain hero protagonist plot twist
        narrator narrative imagine imaginary invent whimsical fantasy dragon wizard magic
        magical sci-fi cyberpunk dystopian spooky horror ghost haunted romance romantic comedic
        humorous funny slogan tagline toast eulogy speech parody shanty rap creepypasta prose
        acrostic metaphor metaphors bedtime once upon
        poema poemas poesía soneto sonetos cuento cuentos relato microrrelato novela canción
        letra fábula leyenda monólogo diálogo escena personaje villano eslogan brindis
        villancico acróstico parodia rap bolero versos
        poème poèmes poésie vers rime rimes haïku conte contes nouvelle roman chanson paroles
        fable légende monologue dialogue scène personnage méchant discours acrostiche parodie
        refrain
        gedicht gedichte reim reime sonett märchen erzählung kurzgeschichte lied songtext fabel
        sage monolog dialog szene bösewicht werbespruch rede akrostichon parodie weihnachtslied
        poesia poesias haicai conto contos romance canção fábula lenda personagem vilão
        discurso acróstico paródia samba funk
        poesie sonetto racconto fiaba favola romanzo canzone filastrocca leggenda monologo
        dialogo scena personaggio cattivo discorso acrostico parodia incipit
        стих стихи хайку сонет сказку сказка рассказ басню басня легенду легенда монолог
        диалог сцену персонаж злодея слоган тост акростих пародию песню песенку рэп
    """,
    "research": """
        research researchers study studies literature review reviews evidence evidence-based
        meta-analysis meta-analyses systematic survey surveys findings synthesis synthesize
        synthesise summarise summarize overview analyse analyze analysis compare comparison
        comparative report reports sources citations cite citing references bibliography
        scholarship scholarly historians historiography economists debate consensus empirical
        longitudinal cohort cohorts trials randomised randomized data statistics trends policy
        policies implications impact impacts effects effectiveness efficacy outcomes
        investigate examine assess evaluate comprehensive in-depth thorough briefing white
        paper papers academic peer theories perspectives state-of-the-art
        investigación estudios literatura revisión evidencia análisis informe fuentes citando
        referencias impacto efectos eficacia sistemática académico debate políticas
        recherche études littérature revue synthèse preuves données rapport sources références
        impact effets efficacité systématique académique
        forschung forschungsstand studien literatur literaturüberblick überblick evidenz
        analyse bericht quellen auswirkungen wirksamkeit folgen historiker systematische
        pesquisa pesquisas estudos revisão evidências análise relatório fontes referências
        impacto efeitos eficácia acadêmico
        ricerca studi letteratura rassegna revisione evidenze prove analisi rapporto fonti
        riferimenti impatto effetti efficacia sistematica
        обзор литературы исследований исследования данные анализ доклад отчёт источники
        источников влияние эффективность последствия
    """,
    "math": """
        solve calculate compute prove proof probability odds percent percentage equation
        equations integral integrate derivative derive limit series converge converges diverges
        sum product remainder divisible prime primes factorial fraction ratio average mean
        median mode sequence puzzle riddle logic logical valid invalid argument premise
        premises conclude infer deduce paradox knights knaves weighings dice coin coins
        marbles triangle rectangle circle angle area volume perimeter matrix determinant
        eigenvalues algebra geometry arithmetic digits integer integers consecutive
        quadratic log logarithm minimum maximum how many ways step
        resuelve resolver calcula demuestra probabilidad ecuación integral derivada suma
        cuántos cuántas porcentaje promedio triángulo área fracción divisible resto serie
        razona mínimo máximo
        résous résoudre calcule démontre prouve probabilité équation intégrale dérivée somme
        combien pourcentage moyenne aire fraction reste suite récurrence
        löse berechne beweise zeige wahrscheinlichkeit gleichung gleichungssystem ableitung
        summe prozent durchschnittsgeschwindigkeit dreieck flächeninhalt bruch teilbar
        induktion minimum
        resolva calcule prove mostre probabilidade equação derivada soma quantos quantas
        porcentagem média triângulo fração indução máximo
        risolvi calcola dimostra probabilità equazione integrale derivata somma quanti quante
        percentuale triangolo frazione divisibile induzione minimo
        реши вычисли докажи найди вероятность уравнение интеграл производную сумма сколько
        процентов треугольника площадь дробь остаток индукции
        mayor menor plus grand größer kleiner maior menor più alto basso выше ниже
        старше младше billes kugeln pesées wägungen balance balanza balança bilancia
        весы expected erwartete
    """,
    "personal": """
        i i'm i've i'd me my mine myself we we're our feel feeling feelings felt sad happy
        lonely bored tired nervous anxious stressed excited proud grumpy upset miss love hate
        friend friends boyfriend girlfriend husband wife mom dad mum sister brother kid kids
        roommate boss coworker neighbour neighbor hi hello hey thanks thank bye goodbye lol haha
        ugh hmm ok okay yo sorry you you're your yourself weekend tonight today advice tips
        recommend
        hola gracias estoy me mi mis siento jaja oye tú te consejo amigos novia novio jefe
        aburro nerviosa nervioso cansado harto uf
        salut bonjour merci je j'ai moi mon ma mes tu mdr ennuie fatigué stressée copain copine
        patron amis pff
        hallo danke ich mir mich mein meine meinen du dir langweilig müde aufgeregt freundin
        chef haha lol ach
        oi obrigado obrigada tô estou eu meu minha você kkk kkkkk entediado nervosa namorado
        chefe amigos dicas saudade aff
        ciao grazie sono mio mia miei ti noia agitatissimo amici ragazza capo ahah uffa
        привет спасибо я мне меня мой моя мои ты тебе скучно волнуюсь друзей начальник ахах
        эх
        mamá madre padre maman mère père mutter vater mãe pai mamma papà мама мамой папа
        жена муж сериал фильм película série serie film idee ideas ideen idées favorite
        favourite favorita favorito preferita preferito préféré lieblings любимое
        любимый conversación conversa conversation gespräch conversazione разговора
    """,
    "fact": """
        who when where which capital year century invented discovered founded wrote painted
        composed population currency country city river mountain ocean planet element symbol
        stand define definition meaning called name largest smallest tallest longest oldest
        first president emperor king queen
        quién cuál cuándo dónde capital año inventó escribió pintó fundó moneda país ciudad
        río montaña planeta símbolo significa habitantes
        qui quel quelle quand où capitale année inventé écrit peint monnaie pays ville fleuve
        montagne planète symbole signifie habitants
        wer welche welcher wann wo hauptstadt jahr erfunden geschrieben gemalt währung land
        stadt fluss berg planet symbol bedeutet einwohner
        quem qual quando onde ano inventou escreveu pintou moeda cidade rio montanha símbolo
        chi quale quando dove anno inventato scritto dipinto moneta paese città fiume
        montagna pianeta simbolo abitanti
        кто какой какая какое когда где столица году изобрёл написал валюта страна город
        река гора планета символ означает
    """,
}

_PREFIXES: dict[str, str] = {
    "code": """
        programm* program* refactor* compil* debug* deploy* funktion* fonction* funci* funzion*
        depur* algoritm* algorithm* implement* variab* регуляр* функци* программ* ошибк*
        компил* отлад* перемен* запрос* скрипт* библиотек* массив* рефактор* алгоритм*
        реализ* класс* тест* компонент* интерфейс*
    """,
    "creative": """
        poem* poesi* poèm* poet* gedicht* stihotv* стих* стихотвор* поэм* рифм* сказк* песн*
        сочин* придума* легенд* пароди* сонет* invent* imagin* immagin* erfind* raconte*
        racconta* conta* racont* histori*
    """,
    "research": """
        investig* studi* étud* estud* literat* littérat* analy* analiz* analis* sintetiz*
        synthét* synthes* synthet* historiogr* storiogr* исследов* литератур* анализ*
        проанализ* обобщ* сравн* влиян* историогр* научн* forsch* untersuch* vergleich*
        compar* confront* rapport* relat* systemat* sistemat* систематич* evidên* evidenz*
        évalu* bewert* avali* valut* оцени*
    """,
    "math": """
        calcul* berechn* вычисл* demostr* démontr* dimostr* докаж* equa* équa* equaz*
        gleichung* уравн* probab* wahrschein* вероят* deriv* dériv* ableit* производн*
        integr* интегр* frac* fraç* fraz* дроб* triang* triâng* треуг* divis* teilbar*
        дели* induc* induk* индукц* récurr* percent* pourcent* porcent* prozent* процент*
    """,
    "personal": """
        cansad* fatigu* stress* nervos* aburri* ennui* langweil* entedi* annoi* скуч*
        волну* подруг* друз* amig* amic* freund* copain* namorad* novi* fidanz*
    """,
}

# Chinese, Japanese and Korean cues, matched as substrings of the text (`_` stands for a space).
_SUBSTRINGS: dict[str, str] = {
    "code": """
        代码 函数 程序 编程 报错 错误 调试 编译 变量 循环 数据库 接口 脚本 算法 正则 重构 部署
        组件 爬虫 死循环 段错误 查询 索引 提交 程式 函式 類別 コード 関数 プログラム エラー
        デバッグ コンパイル 変数 ループ クエリ データベース スクリプト アルゴリズム 正規表現
        リファクタ 実装 書き換え コンポーネント 書いて 코드 함수 프로그램 오류 에러 디버깅 컴파일
        변수 반복문 루프 쿼리 데이터베이스 스크립트 알고리즘 정규식 리팩터 구현 컴포넌트 크롤러
        작성해 커밋 무한_루프
        复杂度 計算量 계산량 开发 正規表現 正则表达式 协程 コルーチン 코루틴
    """,
    "creative": """
        诗 故事 童话 小说 歌词 寓言 传说 独白 剧本 广告语 文案 致辞 藏头诗 绝句 俳句 说唱 编一 想象
        假如你是 情书 儿歌 開頭 开头 詩 短歌 物語 お話 童話 小説 歌詞 寓話 昔話 独白 台本
        キャッチコピー 広告文 スピーチ 折句 ラップ パロディ 想像 なりきって ラブレター 一句 詠んで
        시를 시조 하이쿠 이야기 동화 소설 가사 우화 전설 독백 광고_문구 축사 삼행시 랩 패러디
        상상 연애편지 지어_줘 노래
        短編 ホラー ショート 短篇 恐怖故事 공포 반전
    """,
    "research": """
        研究 综述 文献 证据 分析 报告 资料 引用 参考文献 比较 影响 效果 观点 学界 实证 现状 梳理
        调研 レビュー エビデンス レポート 報告書 出典 比較 影響 効果 解釈 学術 現状 調査 연구
        검토 문헌 근거 분석 보고서 출처 참고 비교 영향 효과 해석 학계 현황 조사 종합해 동향
    """,
    "math": """
        证明 计算 解方程 方程 概率 积分 导数 求 多少 百分之 平均 三角形 面积 分数 余数 整除
        数列 推理 归纳法 几个 几天 几次 几小时 証明 計算 方程式 確率 積分 導関数 微分 求め
        いくつ 何倍 何日 何分 平均 面積 分数 余り 割り切れ 帰納法 論理 증명 계산 방정식 확률
        적분 도함수 구해 몇_개 평균 삼각형 넓이 분수 나머지 배수 수열 귀납법 논리 풀어 며칠
        몇_번 얼마야 최솟값
        比乙 第二矮 第二高 曜日 요일 何曜日 무슨_요일
    """,
    "personal": """
        你好 谢谢 好烦 无聊 紧张 朋友 老板 哈哈 心情 难受 开心 晚安 聊 我想 你觉得 こんにちは
        ありがとう 元気 眠い 緊張 友達 上司 話そう 寂しい おやすみ ひま 落ち込 彼女 彼氏 迷って
        안녕 고마워 심심 떨려 친구 팀장 ㅋㅋ ㅎㅎ 기분 얘기 외로 잘_자 여자친구 남자친구 피곤
        우울
        想念 好想 寂しく 食べたい 妈妈 爸爸 お母さん 엄마 아빠 고민
    """,
    "fact": """
        首都 哪里 哪一年 是谁 谁 哪个 什么是 什么意思 发明 作者 货币 国家 城市 人口 多少度
        どこ 何年 誰 何ですか とは 発明 作者 通貨 惑星 記号 人口 何度 どういう意味 수도 어디
        몇_년 누구 뭐야 발명 작가 화폐 나라 행성 기호 인구 몇_도 무슨_뜻
        어느 어떤_사람 누가 언제 是谁 谁发明 哪位
    """,
}

# Frequent function words that vote for one Latin-script language (ties: no vote).
_LANGUAGE_WORDS: dict[str, str] = {
    "en": "the and is are of to in that this with for you what how why can my it",
    "es": "el la los las es que de y en un una por para con cómo qué mi tu está son lo",
    "fr": "le la les est et de des un une pour avec que qui je tu mon ma pas c'est dans",
    "de": "der die das und ist ein eine nicht ich du mit für wie was mein zu auf den",
    "pt": "o a os as é e de um uma para com que não eu você meu minha do da em",
    "it": "il lo la gli le è e di un una per con che non io tu mio mia del della",
}

QUESTION_WORDS = frozenset(
    """what who when where which why how is are does do can could should would
    qué quién cuál cuándo dónde cómo cuánto cuántos qui quel quelle quand où comment pourquoi
    combien est-ce wer was wann wo wie warum welche welcher wieviel quem qual quando onde
    como quantos chi cosa che quale dove come perché quanti кто что когда где как почему
    какой какая какое сколько""".split()
)


def _split_words(spec: dict[str, str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for name, text in spec.items():
        for word in text.split():
            out.setdefault(word, set()).add(name)
    return {w: tuple(sorted(names)) for w, names in out.items()}


WORD_CUES: dict[str, tuple[str, ...]] = _split_words(_WORDS)
PREFIX_CUES: dict[str, tuple[str, ...]] = {
    w[:-1]: names for w, names in _split_words(_PREFIXES).items() if w.endswith("*")
}
PREFIX_LENGTHS: tuple[int, ...] = tuple(sorted({len(p) for p in PREFIX_CUES}))
SUBSTRING_CUES: dict[str, tuple[str, ...]] = {
    name: tuple(dict.fromkeys(w.replace("_", " ") for w in text.split()))
    for name, text in _SUBSTRINGS.items()
}
LANGUAGE_WORDS: dict[str, str] = {
    w: lang
    for lang, text in _LANGUAGE_WORDS.items()
    for w in text.split()
    if sum(w in other.split() for other in _LANGUAGE_WORDS.values()) == 1
}
CUE_NAMES: tuple[str, ...] = tuple(_WORDS)
