//! `TwitterAPI` (posting_api.py): one user's tweets, comments, retweets and
//! follow list.
//!
//! Python quirk reproduced: `post_tweet`'s `mentions=[]` default is one list
//! object shared by every tweet posted without mentions, in every instance
//! of the process, so `mention` on one of them extends all of them (and
//! later default posts). Here that list lives in the [`PyProcess`] the
//! instance was created in.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::executor::PyProcess;
use super::pyops::{add, dict, fmt, item, lower, no_attr, type_name};
use super::signature::{opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyval::{py_eq, py_in, PyDict, PyVal};
use std::cell::RefCell;
use std::rc::Rc;

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "authenticate_twitter",
        params: &[req("username"), req("password")],
    },
    Signature {
        name: "comment",
        params: &[req("tweet_id"), req("comment_content")],
    },
    Signature {
        name: "follow_user",
        params: &[req("username_to_follow")],
    },
    Signature {
        name: "get_tweet",
        params: &[req("tweet_id")],
    },
    Signature {
        name: "get_tweet_comments",
        params: &[req("tweet_id")],
    },
    Signature {
        name: "get_user_stats",
        params: &[req("username")],
    },
    Signature {
        name: "get_user_tweets",
        params: &[req("username")],
    },
    Signature {
        name: "list_all_following",
        params: &[],
    },
    Signature {
        name: "mention",
        params: &[req("tweet_id"), req("mentioned_usernames")],
    },
    Signature {
        name: "post_tweet",
        params: &[
            req("content"),
            opt("tags", || PyVal::List(Vec::new())),
            opt("mentions", || PyVal::Str(SHARED_DEFAULT.into())),
        ],
    },
    Signature {
        name: "posting_get_login_status",
        params: &[],
    },
    Signature {
        name: "retweet",
        params: &[req("tweet_id")],
    },
    Signature {
        name: "search_tweets",
        params: &[req("keyword")],
    },
    Signature {
        name: "unfollow_user",
        params: &[req("username_to_unfollow")],
    },
];

/// Placeholder default for `mentions`: a string no caller can pass through a
/// keyword (it contains a NUL), standing for the shared default list.
const SHARED_DEFAULT: &str = "\u{0}shared-default-mentions";

/// The posting platform's state.
#[derive(Clone, Debug)]
pub struct TwitterApi {
    username: PyVal,
    password: PyVal,
    authenticated: PyVal,
    tweets: PyDict,
    comments: PyVal,
    retweets: PyVal,
    following_list: PyVal,
    tweet_counter: PyVal,
    /// The process-wide default `mentions` list.
    default_mentions: Rc<RefCell<Vec<PyVal>>>,
    /// Keys of the tweets whose `mentions` is the shared default list.
    aliased: Vec<PyVal>,
}

fn err(msg: String) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg))]))
}

fn unhashable(v: &PyVal) -> PyException {
    PyException::type_error(format!("unhashable type: '{}'", type_name(v)))
}

/// `list.extend(v)` / `list(v)` items of an iterable argument.
fn iter_items(v: &PyVal) -> PyResult<Vec<PyVal>> {
    match v {
        PyVal::List(items) | PyVal::Tuple(items) => Ok(items.clone()),
        PyVal::Str(s) => Ok(s.chars().map(|c| PyVal::str(c.to_string())).collect()),
        PyVal::Dict(d) => Ok(d.keys().cloned().collect()),
        other => Err(PyException::type_error(format!(
            "'{}' object is not iterable",
            type_name(other)
        ))),
    }
}

impl TwitterApi {
    /// `_load_scenario(config)`: missing keys take the class defaults; tweet
    /// keys are converted with `int()`.
    pub fn load(config: &PyDict, process: &PyProcess) -> Result<Self> {
        let bad = |reason: String| Error::BadConfig {
            class: "TwitterAPI".into(),
            reason,
        };
        let get = |k: &str, d: PyVal| config.get_str(k).cloned().unwrap_or(d);
        let mut tweets = PyDict::new();
        match config.get_str("tweets") {
            None => {}
            Some(PyVal::Dict(d)) => {
                for (k, v) in d.iter() {
                    let key = match k {
                        PyVal::Str(s) => s
                            .trim()
                            .parse::<i128>()
                            .map_err(|_| bad(format!("tweets: key {s:?} is not an int")))?,
                        PyVal::Int(i) => *i,
                        other => return Err(bad(format!("tweets: key {other:?}"))),
                    };
                    tweets
                        .insert(PyVal::Int(key), v.clone())
                        .map_err(|_| bad("tweets: unhashable key".into()))?;
                }
            }
            Some(_) => return Err(bad("`tweets` must be a dict".into())),
        }
        Ok(TwitterApi {
            username: get("username", PyVal::str("john")),
            password: get("password", PyVal::str("john123")),
            authenticated: get("authenticated", PyVal::Bool(false)),
            tweets,
            comments: get("comments", PyVal::Dict(PyDict::new())),
            retweets: get("retweets", PyVal::Dict(PyDict::new())),
            following_list: get(
                "following_list",
                PyVal::List(vec![PyVal::str("alice"), PyVal::str("bob")]),
            ),
            tweet_counter: get("tweet_counter", PyVal::Int(0)),
            default_mentions: Rc::clone(&process.twitter_default_mentions),
            aliased: Vec::new(),
        })
    }

    /// The tweets with every aliased `mentions` list read from the shared
    /// default list (which other instances may have extended).
    fn synced_tweets(&self) -> PyDict {
        let mut tweets = self.tweets.clone();
        let shared = PyVal::List(self.default_mentions.borrow().clone());
        for k in &self.aliased {
            if let Some(PyVal::Dict(mut t)) = tweets.get(k).cloned() {
                t.insert_str("mentions", shared.clone());
                let _ = tweets.insert(k.clone(), PyVal::Dict(t));
            }
        }
        tweets
    }

    /// `tweet_id in self.tweets`.
    fn has_tweet(&self, id: &PyVal) -> PyResult<bool> {
        self.tweets.contains(id).map_err(|_| unhashable(id))
    }

    fn not_found(id: &PyVal) -> Returned {
        err(format!("Tweet with ID {} not found.", fmt(id)))
    }

    fn post_tweet(&mut self, content: PyVal, tags: PyVal, mentions: PyVal) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return Ok(err(
                "User not authenticated. Please authenticate before posting.".into(),
            ));
        }
        let shared = matches!(&mentions, PyVal::Str(s) if s == SHARED_DEFAULT);
        let mentions = if shared {
            PyVal::List(self.default_mentions.borrow().clone())
        } else {
            mentions
        };
        let key = self.tweet_counter.clone();
        let tweet = dict([
            ("id", key.clone()),
            ("username", self.username.clone()),
            ("content", content),
            ("tags", tags),
            ("mentions", mentions),
        ]);
        self.tweets
            .insert(key.clone(), tweet.clone())
            .map_err(|_| unhashable(&key))?;
        self.aliased.retain(|k| !py_eq(k, &key));
        if shared {
            self.aliased.push(key);
        }
        self.tweet_counter = add(&self.tweet_counter, &PyVal::Int(1))?;
        Ok(Returned::Value(tweet))
    }

    fn mention(&mut self, id: PyVal, names: PyVal) -> PyResult<Returned> {
        if !self.has_tweet(&id)? {
            return Ok(Self::not_found(&id));
        }
        let new = iter_items(&names)?;
        let Some(PyVal::Dict(tweet)) = self.tweets.get(&id).cloned() else {
            return Err(PyException::type_error("tweet is not a dict"));
        };
        if self.aliased.iter().any(|k| py_eq(k, &id)) {
            self.default_mentions.borrow_mut().extend(new);
            self.tweets = self.synced_tweets();
        } else {
            let mut tweet = tweet;
            let current = item(&PyVal::Dict(tweet.clone()), "mentions")?.clone();
            let PyVal::List(mut list) = current else {
                return Err(no_attr(&current, "extend"));
            };
            list.extend(new);
            tweet.insert_str("mentions", PyVal::List(list));
            let _ = self.tweets.insert(id, PyVal::Dict(tweet));
        }
        Ok(Returned::Value(dict([(
            "mention_status",
            PyVal::str("Users mentioned successfully"),
        )])))
    }

    fn retweet(&mut self, id: PyVal) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return Ok(err(
                "User not authenticated. Please authenticate before retweeting.".into(),
            ));
        }
        if !self.has_tweet(&id)? {
            return Ok(Self::not_found(&id));
        }
        let PyVal::Dict(retweets) = &mut self.retweets else {
            return Err(no_attr(&self.retweets, "get"));
        };
        let user = self.username.clone();
        let mut list = match retweets.get(&user) {
            Some(PyVal::List(l)) => l.clone(),
            Some(other) => return Err(no_attr(other, "append")),
            None => Vec::new(),
        };
        if py_in(&id, &list) {
            let _ = retweets.insert(user, PyVal::List(list));
            return Ok(Returned::Value(dict([(
                "retweet_status",
                PyVal::str("Already retweeted"),
            )])));
        }
        list.push(id);
        retweets
            .insert(user.clone(), PyVal::List(list))
            .map_err(|_| unhashable(&user))?;
        Ok(Returned::Value(dict([(
            "retweet_status",
            PyVal::str("Successfully retweeted"),
        )])))
    }

    fn comment(&mut self, id: PyVal, content: PyVal) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return Ok(err(
                "User not authenticated. Please authenticate before commenting.".into(),
            ));
        }
        if !self.has_tweet(&id)? {
            return Ok(Self::not_found(&id));
        }
        let PyVal::Dict(comments) = &mut self.comments else {
            return Err(no_attr(&self.comments, "get"));
        };
        let mut list = match comments.get(&id) {
            Some(PyVal::List(l)) => l.clone(),
            Some(other) => return Err(no_attr(other, "append")),
            None => Vec::new(),
        };
        list.push(dict([
            ("username", self.username.clone()),
            ("content", content),
        ]));
        let _ = comments.insert(id, PyVal::List(list));
        Ok(Returned::Value(dict([(
            "comment_status",
            PyVal::str("Comment added successfully"),
        )])))
    }

    fn follow(&mut self, name: PyVal, follow: bool) -> PyResult<Returned> {
        let what = if follow { "following" } else { "unfollowing" };
        if !self.authenticated.truthy() {
            return Ok(err(format!(
                "User not authenticated. Please authenticate before {what}."
            )));
        }
        let PyVal::List(list) = &mut self.following_list else {
            return Err(no_attr(&self.following_list, "append"));
        };
        let present = py_in(&name, list);
        let key = if follow {
            "follow_status"
        } else {
            "unfollow_status"
        };
        if follow == present {
            return Ok(Returned::Value(dict([(key, PyVal::Bool(false))])));
        }
        if follow {
            list.push(name);
        } else if let Some(pos) = list.iter().position(|x| py_eq(x, &name)) {
            list.remove(pos);
        }
        Ok(Returned::Value(dict([(key, PyVal::Bool(true))])))
    }

    fn tweets_by(&self, username: &PyVal) -> PyResult<Vec<PyVal>> {
        let mut out = Vec::new();
        for (_, t) in self.tweets.iter() {
            if py_eq(item(t, "username")?, username) {
                out.push(t.clone());
            }
        }
        Ok(out)
    }

    fn search(&self, keyword: &PyVal) -> PyResult<Vec<PyVal>> {
        let mut out = Vec::new();
        for (_, t) in self.tweets.iter() {
            let kw = lower(keyword)?;
            let hit = lower(item(t, "content")?)?.contains(&kw) || {
                let kw = lower(keyword)?;
                let mut tags = Vec::new();
                for tag in iter_items(item(t, "tags")?)? {
                    tags.push(lower(&tag)?);
                }
                tags.contains(&kw)
            };
            if hit {
                out.push(t.clone());
            }
        }
        Ok(out)
    }
}

impl Backend for TwitterApi {
    fn class_name(&self) -> &'static str {
        "TwitterAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        if !self.aliased.is_empty() {
            self.tweets = self.synced_tweets();
        }
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(PyVal::None);
        match method {
            "authenticate_twitter" => {
                let (user, password) = (next(), next());
                let ok = py_eq(&user, &self.username) && py_eq(&password, &self.password);
                if ok {
                    self.authenticated = PyVal::Bool(true);
                }
                Ok(Returned::Value(dict([(
                    "authentication_status",
                    PyVal::Bool(ok),
                )])))
            }
            "posting_get_login_status" => Ok(Returned::Value(dict([(
                "login_status",
                PyVal::Bool(self.authenticated.truthy()),
            )]))),
            "post_tweet" => {
                let (c, t, m) = (next(), next(), next());
                self.post_tweet(c, t, m)
            }
            "retweet" => self.retweet(next()),
            "comment" => {
                let (id, c) = (next(), next());
                self.comment(id, c)
            }
            "mention" => {
                let (id, names) = (next(), next());
                self.mention(id, names)
            }
            "follow_user" => self.follow(next(), true),
            "unfollow_user" => self.follow(next(), false),
            "list_all_following" => {
                if !self.authenticated.truthy() {
                    return Ok(err(
                        "User not authenticated. Please authenticate before listing following."
                            .into(),
                    ));
                }
                Ok(Returned::Value(dict([(
                    "following_list",
                    self.following_list.clone(),
                )])))
            }
            "get_tweet" => {
                let id = next();
                if !self.has_tweet(&id)? {
                    return Ok(Self::not_found(&id));
                }
                Ok(Returned::Value(
                    self.tweets.get(&id).cloned().unwrap_or(PyVal::None),
                ))
            }
            "get_user_tweets" => Ok(Returned::Value(PyVal::List(self.tweets_by(&next())?))),
            "search_tweets" => Ok(Returned::Value(PyVal::List(self.search(&next())?))),
            "get_tweet_comments" => {
                let id = next();
                if !self.has_tweet(&id)? {
                    return Ok(Self::not_found(&id));
                }
                let comments = match &self.comments {
                    PyVal::Dict(d) => d.get(&id).cloned().unwrap_or(PyVal::List(Vec::new())),
                    other => return Err(no_attr(other, "get")),
                };
                Ok(Returned::Value(comments))
            }
            "get_user_stats" => {
                let username = next();
                let tweet_count = self.tweets_by(&username)?.len();
                let following_count = if py_eq(&username, &self.username) {
                    iter_items(&self.following_list)?.len()
                } else {
                    0
                };
                let retweet_count = match &self.retweets {
                    PyVal::Dict(d) => match d.get(&username) {
                        Some(v) => iter_items(v)?.len(),
                        None => 0,
                    },
                    other => return Err(no_attr(other, "get")),
                };
                Ok(Returned::Value(dict([
                    ("tweet_count", PyVal::Int(tweet_count as i128)),
                    ("following_count", PyVal::Int(following_count as i128)),
                    ("retweet_count", PyVal::Int(retweet_count as i128)),
                ])))
            }
            other => Err(PyException::attribute_error(format!(
                "'TwitterAPI' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("username", self.username.clone());
        d.insert_str("password", self.password.clone());
        d.insert_str("authenticated", self.authenticated.clone());
        d.insert_str("tweets", PyVal::Dict(self.synced_tweets()));
        d.insert_str("comments", self.comments.clone());
        d.insert_str("retweets", self.retweets.clone());
        d.insert_str("following_list", self.following_list.clone());
        d.insert_str("tweet_counter", self.tweet_counter.clone());
        d
    }
}
